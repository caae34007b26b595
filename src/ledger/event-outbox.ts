/**
 * The transactional outbox: every change writes its event in the same transaction, so an
 * event exists exactly when the change committed. The relay ({@link EventRelay}) publishes
 * unpublished rows in `seq` order and marks them; replay reads them back by `seq`.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { json } from '../infra/sql/index.js';
import type { Schema } from '../schema.js';
import { TYPE_NAMESPACE, type Actor, type OutboxEvent, type StoredEvent } from './types.js';

export type { OutboxEvent, StoredEvent } from './types.js';

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

/** Which events a read returns. */
export interface EventFilter {
  afterSeq: number;
  limit: number;
  /** Only this tenant's events (undefined: every tenant's and the platform's). */
  tenantId?: string | undefined;
  /** A published-type filter: `*`, an exact type or a `prefix.*` glob. */
  type?: string | undefined;
}

/** Events after `afterSeq`, oldest first. */
export async function readEvents(
  db: Kysely<Schema>,
  afterSeq: number,
  limit: number,
  tenantId?: string,
): Promise<StoredEvent[]> {
  return listEvents(db, { afterSeq, limit, tenantId });
}

/** Events matching `filter`, oldest first. */
export async function listEvents(db: Kysely<Schema>, filter: EventFilter): Promise<StoredEvent[]> {
  let q = db
    .selectFrom('outbox')
    .selectAll()
    .where('seq', '>', filter.afterSeq as never);
  if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
  const type = filter.type;
  if (type !== undefined && type !== '*') {
    // Stored types are short (`tenant.created`) or already namespaced; match both forms.
    const short = type.startsWith(`${TYPE_NAMESPACE}.`) ? type.slice(TYPE_NAMESPACE.length + 1) : type;
    if (type.endsWith('.*')) {
      const prefix = type.slice(0, -1);
      const shortPrefix = short.slice(0, -1);
      q =
        shortPrefix === ''
          ? q
          : q.where(sql<boolean>`(starts_with(type, ${prefix}) or starts_with(type, ${shortPrefix}))`);
    } else {
      q = q.where('type', 'in', [type, short]);
    }
  }
  const rows = await q.orderBy('seq', 'asc').limit(filter.limit).execute();
  return rows.map(toStoredEvent);
}

/** The sequence number of the newest event (of one tenant, or of all), 0 when there is none. */
export async function eventHead(db: Kysely<Schema>, tenantId: string | undefined): Promise<number> {
  let q = db.selectFrom('outbox').select((eb) => eb.fn.max('seq').as('head'));
  if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
  const row = await q.executeTakeFirst();
  return Number(row?.head ?? 0);
}

/** Map an outbox row. */
export function toStoredEvent(r: Selectable<Schema['outbox']>): StoredEvent {
  return {
    seq: Number(r.seq),
    id: r.id,
    ts: new Date(r.ts).toISOString(),
    type: r.type,
    tenantId: r.tenant_id,
    correlationId: r.correlation_id,
    payload: r.payload as Record<string, unknown>,
  };
}

/** How many events of the given types each tenant published in the window (`after`, `until`]; tenants with none are absent. */
export async function countEventsByTenant(
  db: Kysely<Schema>,
  filter: { tenantIds: readonly string[]; types: readonly string[]; after: Date; until: Date },
): Promise<Map<string, number>> {
  if (filter.tenantIds.length === 0 || filter.types.length === 0) return new Map();
  const rows = await db
    .selectFrom('outbox')
    .select(['tenant_id', sql<number>`count(*)`.as('n')])
    .where('tenant_id', 'in', [...filter.tenantIds])
    .where('type', 'in', [...filter.types])
    .where('ts', '>', filter.after)
    .where('ts', '<=', filter.until)
    .groupBy('tenant_id')
    .execute();
  return new Map(rows.map((r) => [r.tenant_id!, Number(r.n)]));
}
