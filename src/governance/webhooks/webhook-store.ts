/**
 * Webhook endpoints and their delivery log. An endpoint is platform-wide (`tenantId`
 * null: every event) or one tenant's (that tenant's events only). Its signing secret is
 * shown once, at creation and at rotation, and stored sealed: with the tenant's key ring
 * for a tenant's endpoint, with the platform key for a platform-wide one. Every change is
 * audited and emits an event in the same transaction.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { notFound, TenancyError } from '../../errors.js';
import { json } from '../../infra/sql/index.js';
import type { Schema } from '../../schema.js';
import type { Executor, KeyRing } from '../../keys/index.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import type { ReceiverGuard } from './webhook-receiver-guard.js';
import { newSigningSecret } from './webhook-signing.js';

/** A webhook endpoint as the API shows it (never its secret). */
export interface WebhookInfo {
  id: string;
  tenantId: string | null;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  description: string | null;
  /** Why the endpoint was disabled by Tenancy (e.g. the receiver answered 410), if it was. */
  disabledReason: string | null;
  secretRotatedAt: string | null;
  /** Until when the previous secret still signs, after a rotation. */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

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

/** What creating an endpoint takes. */
export interface NewWebhook {
  tenantId: string | null;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  description: string | null;
}

/** What an update may change. */
export interface WebhookChanges {
  url?: string | undefined;
  eventTypes?: string[] | undefined;
  enabled?: boolean | undefined;
  description?: string | null | undefined;
}

export const WEBHOOK_ID_PATTERN = /^wh_[0-9a-f]{24}$/;

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/** Endpoints, secrets and the delivery log. */
export class WebhookStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly keyRing: KeyRing,
    private readonly audit: AuditLog,
    private readonly receivers: ReceiverGuard,
    private readonly secretOverlapSeconds: number,
  ) {}

  /** Create an endpoint; the only time (besides rotation) its secret is returned. */
  async create(actor: Actor, input: NewWebhook): Promise<WebhookInfo & { secret: string }> {
    await this.receivers.check(input.url);
    const id = `wh_${randomBytes(12).toString('hex')}`;
    const secret = newSigningSecret();
    return this.db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      await trx
        .insertInto('webhooks')
        .values({
          id,
          tenant_id: input.tenantId,
          url: input.url,
          event_types: json(input.eventTypes),
          enabled: input.enabled,
          description: input.description,
          disabled_reason: null,
          secret_ciphertext: await this.#seal(input.tenantId, secret, trx),
          previous_secret_ciphertext: null,
          previous_secret_expires_at: null,
          secret_rotated_at: null,
          created_at: now,
          created_by: actor.id,
          updated_at: now,
        })
        .execute();
      await this.#record(trx, actor, 'webhook.create', 'webhook.created', id, input.tenantId, {
        url: input.url,
        eventTypes: input.eventTypes,
        enabled: input.enabled,
      });
      return { ...(await this.#info(trx, id)), secret };
    });
  }

  /** Endpoints, in id order; `tenantId` undefined lists every endpoint, null the platform-wide ones. */
  async list(filter: {
    tenantId?: string | null | undefined;
    after?: string | undefined;
    limit: number;
  }): Promise<WebhookInfo[]> {
    let q = this.db.selectFrom('webhooks').selectAll();
    if (filter.tenantId === null) q = q.where('tenant_id', 'is', null);
    else if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
    if (filter.after !== undefined) q = q.where('id', '>', filter.after);
    return (await q.orderBy('id').limit(filter.limit).execute()).map(toInfo);
  }

  /**
   * One endpoint, or undefined. With `tenantId`, only that tenant's: another tenant's (or a
   * platform-wide one) is undefined by the same query that finds no unknown id.
   */
  async find(id: string, tenantId?: string): Promise<WebhookInfo | undefined> {
    let q = this.db.selectFrom('webhooks').selectAll().where('id', '=', id);
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    const row = await q.executeTakeFirst();
    return row ? toInfo(row) : undefined;
  }

  /** Change an endpoint; re-enabling clears why it was disabled. */
  async update(actor: Actor, id: string, changes: WebhookChanges): Promise<WebhookInfo> {
    if (changes.url !== undefined) await this.receivers.check(changes.url);
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('webhooks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) throw webhookNotFound(id);
      await trx
        .updateTable('webhooks')
        .set({
          ...(changes.url !== undefined ? { url: changes.url } : {}),
          ...(changes.eventTypes !== undefined ? { event_types: json(changes.eventTypes) } : {}),
          ...(changes.enabled !== undefined
            ? { enabled: changes.enabled, disabled_reason: changes.enabled ? null : row.disabled_reason }
            : {}),
          ...(changes.description !== undefined ? { description: changes.description } : {}),
          updated_at: new Date().toISOString(),
        })
        .where('id', '=', id)
        .execute();
      await this.#record(trx, actor, 'webhook.update', 'webhook.updated', id, row.tenant_id, {
        changed: Object.keys(changes)
          .filter((k) => changes[k as keyof WebhookChanges] !== undefined)
          .sort(),
      });
      return this.#info(trx, id);
    });
  }

  /** Delete an endpoint with its deliveries. */
  async remove(actor: Actor, id: string): Promise<WebhookInfo> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('webhooks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) throw webhookNotFound(id);
      await trx.deleteFrom('webhooks').where('id', '=', id).execute();
      await this.#record(trx, actor, 'webhook.delete', 'webhook.deleted', id, row.tenant_id, { url: row.url });
      return toInfo(row);
    });
  }

  /**
   * New secret; the previous one keeps signing (both signatures are sent) for
   * `overlapSeconds` (default: the configured overlap), so receivers can switch over.
   */
  async rotateSecret(
    actor: Actor,
    id: string,
    overlapSeconds = this.secretOverlapSeconds,
  ): Promise<WebhookInfo & { secret: string }> {
    const secret = newSigningSecret();
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('webhooks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) throw webhookNotFound(id);
      const now = new Date();
      await trx
        .updateTable('webhooks')
        .set({
          secret_ciphertext: await this.#seal(row.tenant_id, secret, trx),
          previous_secret_ciphertext: overlapSeconds > 0 ? row.secret_ciphertext : null,
          previous_secret_expires_at:
            overlapSeconds > 0 ? new Date(now.getTime() + overlapSeconds * 1000).toISOString() : null,
          secret_rotated_at: now.toISOString(),
          updated_at: now.toISOString(),
        })
        .where('id', '=', id)
        .execute();
      await this.#record(trx, actor, 'webhook.rotate_secret', 'webhook.secret_rotated', id, row.tenant_id, {
        overlapSeconds,
      });
      return { ...(await this.#info(trx, id)), secret };
    });
  }

  /** The secrets that sign now: the current one, and the previous one during its overlap. */
  async signingSecrets(
    row: Pick<
      Selectable<Schema['webhooks']>,
      'tenant_id' | 'secret_ciphertext' | 'previous_secret_ciphertext' | 'previous_secret_expires_at'
    >,
    now = new Date(),
  ): Promise<string[]> {
    const secrets = [await this.#open(row.tenant_id, row.secret_ciphertext)];
    if (
      row.previous_secret_ciphertext !== null &&
      row.previous_secret_expires_at !== null &&
      new Date(row.previous_secret_expires_at) > now
    ) {
      secrets.push(await this.#open(row.tenant_id, row.previous_secret_ciphertext));
    }
    return secrets;
  }

  /** An endpoint's deliveries in id (creation) order, with their attempts. */
  async deliveries(
    webhookId: string,
    filter: { status?: DeliveryInfo['status'] | undefined; after?: string | undefined; limit: number },
  ): Promise<DeliveryInfo[]> {
    let q = this.db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    if (filter.after !== undefined) q = q.where('id', '>', filter.after);
    const rows = await q.orderBy('id').limit(filter.limit).execute();
    return this.#withAttempts(this.db, rows);
  }

  /** Deliver again now (any status); the attempt count goes on. */
  async redeliver(actor: Actor, webhookId: string, deliveryId: string): Promise<DeliveryInfo> {
    return this.db.transaction().execute(async (trx) => {
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
      await this.audit.append(trx, actor, {
        action: 'webhook.redeliver',
        target: `webhook/${webhookId}/delivery/${deliveryId}`,
        tenantId: hook.tenant_id,
        outcome: 'success',
        details: { eventId: row.event_id, previousStatus: row.status },
      });
      const updated = await trx.selectFrom('webhook_deliveries').selectAll().where('id', '=', deliveryId).execute();
      return (await this.#withAttempts(trx, updated))[0]!;
    });
  }

  async #seal(tenantId: string | null, secret: string, exec: Executor): Promise<string> {
    const plain = Buffer.from(secret, 'utf8');
    return tenantId === null
      ? this.keyRing.encryptPlatform('webhook', plain, exec)
      : this.keyRing.encrypt(tenantId, 'webhook', plain, exec);
  }

  async #open(tenantId: string | null, ciphertext: string): Promise<string> {
    const plain =
      tenantId === null
        ? await this.keyRing.decryptPlatform('webhook', ciphertext)
        : await this.keyRing.decrypt(tenantId, 'webhook', ciphertext);
    return plain.toString('utf8');
  }

  async #record(
    trx: Transaction<Schema>,
    actor: Actor,
    action: string,
    eventType: string,
    id: string,
    tenantId: string | null,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.recordChange(trx, {
      actor,
      action,
      target: `webhook/${id}`,
      tenantId,
      outcome: 'success',
      details,
      event: { type: eventType, tenantId, payload: { id, ...details } },
    });
  }

  async #info(exec: Executor, id: string): Promise<WebhookInfo> {
    return toInfo(await exec.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
  }

  async #withAttempts(exec: Executor, rows: Array<Selectable<Schema['webhook_deliveries']>>): Promise<DeliveryInfo[]> {
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
}

/** The 404 for an endpoint that does not exist or is not the caller's. */
export function webhookNotFound(id: string): TenancyError {
  return notFound('webhook_not_found', `webhook ${id} not found`);
}

function toInfo(r: Selectable<Schema['webhooks']>): WebhookInfo {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    url: r.url,
    eventTypes: r.event_types,
    enabled: r.enabled,
    description: r.description,
    disabledReason: r.disabled_reason,
    secretRotatedAt: iso(r.secret_rotated_at),
    previousSecretExpiresAt:
      r.previous_secret_expires_at !== null && new Date(r.previous_secret_expires_at) > new Date()
        ? iso(r.previous_secret_expires_at)
        : null,
    createdAt: iso(r.created_at)!,
    createdBy: r.created_by,
    updatedAt: iso(r.updated_at)!,
  };
}

/** A delivery id from a URL (UUIDv7). */
export const DELIVERY_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Ids for new deliveries: time-ordered, so the log lists in creation order. */
export function newDeliveryId(): string {
  return uuidv7();
}
