/**
 * The transactional outbox: every change writes its event in the same transaction, so an
 * event exists exactly when the change committed. Consumers (the controller today, the
 * event bus and webhooks later) read it in `seq` order and mark what they published.
 */
import type { Kysely, Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { json, type Schema } from '../infra/sql/index.js';
import type { Actor } from './audit-log.js';

/** An event as written to the outbox. */
export interface OutboxEvent {
  type: string;
  tenantId: string | null;
  payload: Record<string, unknown>;
}

/** A stored event. */
export interface StoredEvent extends OutboxEvent {
  seq: number;
  id: string;
  ts: string;
  correlationId: string | null;
}

/** Write `event` inside `trx`. */
export async function addEvent(trx: Transaction<Schema>, actor: Actor, event: OutboxEvent): Promise<string> {
  const id = uuidv7();
  await trx
    .insertInto('outbox')
    .values({
      id,
      type: event.type,
      tenant_id: event.tenantId,
      correlation_id: actor.correlationId,
      payload: json(event.payload),
      ts: new Date().toISOString(),
      published_at: null,
    })
    .execute();
  return id;
}

/** Events after `afterSeq`, oldest first. */
export async function readEvents(db: Kysely<Schema>, afterSeq: number, limit: number, tenantId?: string): Promise<StoredEvent[]> {
  let q = db.selectFrom('outbox').selectAll().where('seq', '>', afterSeq as never);
  if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
  const rows = await q.orderBy('seq', 'asc').limit(limit).execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    id: r.id,
    ts: new Date(r.ts).toISOString(),
    type: r.type,
    tenantId: r.tenant_id,
    correlationId: r.correlation_id,
    payload: r.payload as Record<string, unknown>,
  }));
}
