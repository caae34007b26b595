/**
 * The webhook delivery log as the API shows it: an endpoint's deliveries with their
 * attempts, and a redelivery on request (audited). Delivery ids are UUIDv7, so the log
 * lists in creation order.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { notFound, TenancyError } from '../../errors.js';
import type { Schema } from '../../schema.js';
import type { Executor } from '../../keys/index.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import { iso, webhookNotFound } from './webhook-rows.js';

/** One attempt to deliver. */
export interface DeliveryAttempt {
  attempt: number;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  outcome: 'succeeded' | 'failed';
  nextRetryAt: string | null;
}

/** One event for one endpoint, with its attempts. */
export interface DeliveryInfo {
  id: string;
  webhookId: string;
  tenantId: string | null;
  eventId: string;
  eventType: string;
  eventSeq: number;
  status: 'pending' | 'succeeded' | 'failed' | 'dead';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  attemptLog: DeliveryAttempt[];
}

/** A delivery id from a URL (UUIDv7). */
export const DELIVERY_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Ids for new deliveries: time-ordered, so the log lists in creation order. */
export function newDeliveryId(): string {
  return uuidv7();
}

/** An endpoint's deliveries in id (creation) order, with their attempts. */
export async function listDeliveries(
  db: Kysely<Schema>,
  webhookId: string,
  filter: { status?: DeliveryInfo['status'] | undefined; after?: string | undefined; limit: number },
): Promise<DeliveryInfo[]> {
  let q = db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId);
  if (filter.status !== undefined) q = q.where('status', '=', filter.status);
  if (filter.after !== undefined) q = q.where('id', '>', filter.after);
  const rows = await q.orderBy('id').limit(filter.limit).execute();
  return withAttempts(db, rows);
}

/** Make a delivery due now (any status; the attempt count goes on), audited; refused while the endpoint is disabled. */
export async function redeliver(
  db: Kysely<Schema>,
  audit: AuditLog,
  actor: Actor,
  webhookId: string,
  deliveryId: string,
): Promise<DeliveryInfo> {
  return db.transaction().execute(async (trx) => {
    const hook = await trx
      .selectFrom('webhooks')
      .select(['enabled', 'tenant_id'])
      .where('id', '=', webhookId)
      .executeTakeFirst();
    if (!hook) throw webhookNotFound(webhookId);
    if (!hook.enabled)
      throw new TenancyError(
        'webhook_disabled',
        `webhook ${webhookId} is disabled; enable it (PATCH {"enabled": true}) before redelivering`,
      );
    const row = await trx
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', '=', deliveryId)
      .where('webhook_id', '=', webhookId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) throw notFound('delivery_not_found', `delivery ${deliveryId} of webhook ${webhookId} not found`);
    await trx
      .updateTable('webhook_deliveries')
      .set({
        status: 'pending',
        next_attempt_at: sql<string>`now()`,
        claim_token: null,
        updated_at: new Date().toISOString(),
      })
      .where('id', '=', deliveryId)
      .execute();
    await audit.append(trx, actor, {
      action: 'webhook.redeliver',
      target: `webhook/${webhookId}/delivery/${deliveryId}`,
      tenantId: hook.tenant_id,
      outcome: 'success',
      details: { eventId: row.event_id, previousStatus: row.status },
    });
    const updated = await trx.selectFrom('webhook_deliveries').selectAll().where('id', '=', deliveryId).execute();
    return (await withAttempts(trx, updated))[0]!;
  });
}

async function withAttempts(
  exec: Executor,
  rows: Array<Selectable<Schema['webhook_deliveries']>>,
): Promise<DeliveryInfo[]> {
  if (rows.length === 0) return [];
  const attempts = await exec
    .selectFrom('webhook_attempts')
    .selectAll()
    .where(
      'delivery_id',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('delivery_id')
    .orderBy('attempt')
    .execute();
  const byDelivery = new Map<string, DeliveryAttempt[]>();
  for (const a of attempts) {
    const list = byDelivery.get(a.delivery_id) ?? [];
    list.push({
      attempt: a.attempt,
      startedAt: iso(a.started_at)!,
      durationMs: a.duration_ms,
      statusCode: a.status_code,
      error: a.error,
      outcome: a.outcome as DeliveryAttempt['outcome'],
      nextRetryAt: iso(a.next_retry_at),
    });
    byDelivery.set(a.delivery_id, list);
  }
  return rows.map((r) => ({
    id: r.id,
    webhookId: r.webhook_id,
    tenantId: r.tenant_id,
    eventId: r.event_id,
    eventType: r.event_type,
    eventSeq: Number(r.event_seq),
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    attemptLog: byDelivery.get(r.id) ?? [],
  }));
}
