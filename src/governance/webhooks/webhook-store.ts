/**
 * Webhook endpoints and their delivery log. An endpoint is platform-wide (`tenantId`
 * null: every event) or one tenant's (that tenant's events only). Its signing secret is
 * shown once, at creation and at rotation, and stored sealed: with the tenant's key ring
 * for a tenant's endpoint, with the platform key for a platform-wide one. Every change is
 * audited and emits an event in the same transaction. The store is the one entry point;
 * the row mapping is in `webhook-rows.ts`, sealing and rotation columns in
 * `webhook-secrets.ts`, the delivery log's queries in `webhook-deliveries.ts`.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { json } from '../../infra/sql/index.js';
import type { Schema } from '../../schema.js';
import type { Executor, KeyRing } from '../../keys/index.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import { type DeliveryInfo, listDeliveries, redeliver } from './webhook-deliveries.js';
import type { ReceiverGuard } from './webhook-receiver-guard.js';
import {
  toWebhookInfo,
  webhookNotFound,
  type NewWebhook,
  type WebhookChanges,
  type WebhookInfo,
} from './webhook-rows.js';
import { openSigningSecrets, rotatedSecretColumns, sealSecret, type SecretColumns } from './webhook-secrets.js';
import { newSigningSecret } from './webhook-signing.js';

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
          secret_ciphertext: await sealSecret(this.keyRing, input.tenantId, secret, trx),
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
    return (await q.orderBy('id').limit(filter.limit).execute()).map(toWebhookInfo);
  }

  /**
   * One endpoint, or undefined. With `tenantId`, only that tenant's: another tenant's (or a
   * platform-wide one) is undefined by the same query that finds no unknown id.
   */
  async find(id: string, tenantId?: string): Promise<WebhookInfo | undefined> {
    let q = this.db.selectFrom('webhooks').selectAll().where('id', '=', id);
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    const row = await q.executeTakeFirst();
    return row ? toWebhookInfo(row) : undefined;
  }

  /** Change an endpoint; re-enabling clears why it was disabled. */
  async update(actor: Actor, id: string, changes: WebhookChanges): Promise<WebhookInfo> {
    if (changes.url !== undefined) await this.receivers.check(changes.url);
    return this.db.transaction().execute(async (trx) => {
      const row = await this.#lock(trx, id);
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
      const row = await this.#lock(trx, id);
      await trx.deleteFrom('webhooks').where('id', '=', id).execute();
      await this.#record(trx, actor, 'webhook.delete', 'webhook.deleted', id, row.tenant_id, { url: row.url });
      return toWebhookInfo(row);
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
      const row = await this.#lock(trx, id);
      const now = new Date();
      await trx
        .updateTable('webhooks')
        .set({
          ...(await rotatedSecretColumns(this.keyRing, row, secret, overlapSeconds, trx, now)),
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
  async signingSecrets(row: SecretColumns, now = new Date()): Promise<string[]> {
    return openSigningSecrets(this.keyRing, row, now);
  }

  /** An endpoint's deliveries in id (creation) order, with their attempts. */
  async deliveries(
    webhookId: string,
    filter: { status?: DeliveryInfo['status'] | undefined; after?: string | undefined; limit: number },
  ): Promise<DeliveryInfo[]> {
    return listDeliveries(this.db, webhookId, filter);
  }

  /** Deliver again now (any status); the attempt count goes on. */
  async redeliver(actor: Actor, webhookId: string, deliveryId: string): Promise<DeliveryInfo> {
    return redeliver(this.db, this.audit, actor, webhookId, deliveryId);
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

  /** Lock an endpoint's row for a change; 404 when there is none. */
  async #lock(trx: Transaction<Schema>, id: string): Promise<Selectable<Schema['webhooks']>> {
    const row = await trx.selectFrom('webhooks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!row) throw webhookNotFound(id);
    return row;
  }

  async #info(exec: Executor, id: string): Promise<WebhookInfo> {
    return toWebhookInfo(await exec.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
  }
}
