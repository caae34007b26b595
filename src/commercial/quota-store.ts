/**
 * Quota accounting in the control plane: the counted quotas an app owns (`maxUsers`,
 * `maxProjects`) as counters with atomic reserve and release, storage (`storageLimitBytes`)
 * from the exact sizes of objects written through Tenancy's object handles plus the last
 * database sample, and the monthly cost (`maxCostPerMonthUsd`) from the cost meters.
 *
 * Limits are read from the tenant's spec inside the same transaction as the change, so a
 * quota changed in the manifest applies to the very next reservation, with no restart. A
 * reservation is one conditional `UPDATE ... WHERE used + n <= limit` on a locked row:
 * concurrent reservations from any number of app instances never overshoot.
 *
 * The store is the one entry point and holds the counted quotas; the shared counter rows are
 * in `quota-counters.ts`, storage in `object-quota.ts`, status and the cost cap in
 * `quota-status.ts`.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import {
  abortObject,
  commitObject,
  forgetObject,
  objectBytes,
  reserveObject,
  type WrittenObject,
} from './object-quota.js';
import {
  COUNTER_OF,
  assertWritable,
  lockCounter,
  quotaExceeded,
  quotaTenant,
  setCounter,
  type CountedQuota,
  type QuotaState,
  type QuotaUse,
} from './quota-counters.js';
import { assertCostAllowed, quotaStatus } from './quota-status.js';
import type { UsageStore } from './usage-store.js';

/** Counters, storage and cost quotas of tenants. */
export class QuotaStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly usage: UsageStore,
  ) {}

  async #record(
    trx: Transaction<Schema>,
    actor: Actor,
    action: string,
    tenantId: string,
    quota: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.recordChange(trx, {
      actor,
      action,
      target: `tenant/${tenantId}/quotas/${quota}`,
      tenantId,
      outcome: 'success',
      details,
      event: { type: action, tenantId, payload: { tenantId, quota, ...details } },
    });
  }

  /**
   * Take `amount` of a counted quota (e.g. one project about to be created); 409
   * `quota_exceeded` with the limit and current use when it would go over.
   */
  async reserve(actor: Actor, tenantId: string, quota: CountedQuota, amount: number): Promise<QuotaUse> {
    return this.db.transaction().execute(async (trx) => {
      const { quotas, phase } = await quotaTenant(trx, tenantId);
      assertWritable(tenantId, phase);
      const limit = quotas[quota];
      const used = await lockCounter(trx, tenantId, COUNTER_OF[quota]);
      if (used + amount > limit)
        throw quotaExceeded(
          tenantId,
          quota,
          limit,
          used,
          `${quota} is ${limit}, ${used} in use; ${amount} more would exceed it`,
          { extra: { requested: amount } },
        );
      await setCounter(trx, tenantId, COUNTER_OF[quota], used + amount);
      await this.#record(trx, actor, 'quota.reserved', tenantId, quota, { amount, limit, current: used + amount });
      return { quota, limit, current: used + amount };
    });
  }

  /** Give back `amount` (e.g. a project deleted, or a create that failed); never below zero. */
  async release(actor: Actor, tenantId: string, quota: CountedQuota, amount: number): Promise<QuotaUse> {
    return this.db.transaction().execute(async (trx) => {
      const { quotas } = await quotaTenant(trx, tenantId);
      const used = await lockCounter(trx, tenantId, COUNTER_OF[quota]);
      const current = Math.max(0, used - amount);
      await setCounter(trx, tenantId, COUNTER_OF[quota], current);
      await this.#record(trx, actor, 'quota.released', tenantId, quota, { amount, limit: quotas[quota], current });
      return { quota, limit: quotas[quota], current };
    });
  }

  /**
   * Set the count to what the app really holds (a periodic reconcile with its own
   * database); may be above the limit, which then refuses further reservations.
   */
  async set(actor: Actor, tenantId: string, quota: CountedQuota, current: number): Promise<QuotaUse> {
    return this.db.transaction().execute(async (trx) => {
      const { quotas } = await quotaTenant(trx, tenantId);
      const previous = await lockCounter(trx, tenantId, COUNTER_OF[quota]);
      await setCounter(trx, tenantId, COUNTER_OF[quota], current);
      await this.#record(trx, actor, 'quota.set', tenantId, quota, { previous, limit: quotas[quota], current });
      return { quota, limit: quotas[quota], current };
    });
  }

  /**
   * Before an object write of `bytes` to `key`: reserve the growth over the object it
   * replaces, or refuse with 409 `quota_exceeded` (storageLimitBytes) when objects plus the
   * database would go over. Returns the bytes reserved, for {@link commitObject} or
   * {@link abortObject}.
   */
  async reserveObject(tenantId: string, key: string, bytes: number): Promise<number> {
    return reserveObject(this.db, tenantId, key, bytes);
  }

  /** After the write: record the object's size (replacing the reservation by the true change), audited with its event. */
  async commitObject(actor: Actor, tenantId: string, object: WrittenObject, reserved: number): Promise<void> {
    return commitObject(this.db, this.audit, actor, tenantId, object, reserved);
  }

  /** The write failed: give the reservation back. */
  async abortObject(tenantId: string, reserved: number): Promise<void> {
    return abortObject(this.db, tenantId, reserved);
  }

  /** After a delete: forget the object's size; audited with its event. */
  async forgetObject(actor: Actor, tenantId: string, key: string): Promise<boolean> {
    return forgetObject(this.db, this.audit, actor, tenantId, key);
  }

  /** Bytes of objects a tenant holds through the handles. */
  async objectBytes(tenantId: string): Promise<number> {
    return objectBytes(this.db, tenantId);
  }

  /**
   * Refuse with 403 `quota_exceeded` (and `Retry-After` until the next month) when the
   * tenant's cost this month is over `maxCostPerMonthUsd`.
   */
  async assertCostAllowed(tenantId: string, now = Date.now()): Promise<void> {
    return assertCostAllowed(this.db, this.usage, tenantId, now);
  }

  /** Every quota of the tenant with its limit and current use. */
  async status(tenantId: string, now = Date.now()): Promise<QuotaState[]> {
    return quotaStatus(this.db, this.usage, tenantId, now);
  }
}
