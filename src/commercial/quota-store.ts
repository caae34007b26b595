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
 */
import type { Kysely, Transaction } from 'kysely';
import type { QuotaStatus, QuotaUse } from '../contract/index.js';
import { TenancyError, notFound } from '../errors.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { effectiveQuotas, tenantFacts, type EffectiveQuotas, type TenantSpec } from '../tenants/index.js';
import { DATABASE_BYTES, REQUESTS, bucketStart, monthOf, monthRange } from './meters.js';
import { costExceeded, type UsageStore } from './usage-store.js';

/** Quotas an app counts and reserves through the control plane. */
export const COUNTED_QUOTAS = ['maxUsers', 'maxProjects'] as const;
export type CountedQuota = (typeof COUNTED_QUOTAS)[number];

/** The counter row that holds object bytes. */
export const OBJECT_BYTES_COUNTER = 'objectBytes';

/** One quota's state. */
export type QuotaState = QuotaStatus<keyof EffectiveQuotas>;

export type { QuotaUse };

/** The 409 for a count or size over its quota (403 for the monthly cost cap). */
export function quotaExceeded(
  tenantId: string,
  quota: string,
  limit: number,
  current: number,
  detail: string,
  options: { status?: number; retryAfterSeconds?: number; extra?: Record<string, unknown> } = {},
): TenancyError {
  return new TenancyError('quota_exceeded', `tenant ${tenantId}: ${detail}`, {
    status: options.status ?? 409,
    extensions: { quota, limit, current, ...options.extra },
    ...(options.retryAfterSeconds !== undefined
      ? { headers: { 'Retry-After': String(options.retryAfterSeconds) } }
      : {}),
  });
}

const COUNTER_OF: Record<CountedQuota, string> = { maxUsers: 'users', maxProjects: 'projects' };

/** Counters, storage and cost quotas of tenants. */
export class QuotaStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly usage: UsageStore,
  ) {}

  async #tenant(
    exec: Kysely<Schema>,
    tenantId: string,
  ): Promise<{ spec: TenantSpec; quotas: EffectiveQuotas; phase: string }> {
    const row = await tenantFacts(exec, tenantId);
    if (!row) throw notFound('tenant_not_found', `tenant ${tenantId} not found`);
    return { spec: row.spec, quotas: effectiveQuotas(row.spec), phase: row.phase };
  }

  /** Lock (creating it at 0) a counter row; returns its use. */
  async #lockCounter(trx: Transaction<Schema>, tenantId: string, counter: string): Promise<number> {
    await trx
      .insertInto('quota_counters')
      .values({ tenant_id: tenantId, quota: counter, used: 0, updated_at: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['tenant_id', 'quota']).doNothing())
      .execute();
    const row = await trx
      .selectFrom('quota_counters')
      .select('used')
      .where('tenant_id', '=', tenantId)
      .where('quota', '=', counter)
      .forUpdate()
      .executeTakeFirstOrThrow();
    return Number(row.used);
  }

  async #setCounter(trx: Transaction<Schema>, tenantId: string, counter: string, used: number): Promise<void> {
    await trx
      .updateTable('quota_counters')
      .set({ used: Math.max(0, used), updated_at: new Date().toISOString() })
      .where('tenant_id', '=', tenantId)
      .where('quota', '=', counter)
      .execute();
  }

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
      const { quotas, phase } = await this.#tenant(trx, tenantId);
      assertWritable(tenantId, phase);
      const limit = quotas[quota];
      const used = await this.#lockCounter(trx, tenantId, COUNTER_OF[quota]);
      if (used + amount > limit)
        throw quotaExceeded(
          tenantId,
          quota,
          limit,
          used,
          `${quota} is ${limit}, ${used} in use; ${amount} more would exceed it`,
          { extra: { requested: amount } },
        );
      await this.#setCounter(trx, tenantId, COUNTER_OF[quota], used + amount);
      await this.#record(trx, actor, 'quota.reserved', tenantId, quota, { amount, limit, current: used + amount });
      return { quota, limit, current: used + amount };
    });
  }

  /** Give back `amount` (e.g. a project deleted, or a create that failed); never below zero. */
  async release(actor: Actor, tenantId: string, quota: CountedQuota, amount: number): Promise<QuotaUse> {
    return this.db.transaction().execute(async (trx) => {
      const { quotas } = await this.#tenant(trx, tenantId);
      const used = await this.#lockCounter(trx, tenantId, COUNTER_OF[quota]);
      const current = Math.max(0, used - amount);
      await this.#setCounter(trx, tenantId, COUNTER_OF[quota], current);
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
      const { quotas } = await this.#tenant(trx, tenantId);
      const previous = await this.#lockCounter(trx, tenantId, COUNTER_OF[quota]);
      await this.#setCounter(trx, tenantId, COUNTER_OF[quota], current);
      await this.#record(trx, actor, 'quota.set', tenantId, quota, { previous, limit: quotas[quota], current });
      return { quota, limit: quotas[quota], current };
    });
  }

  /** The last database-size sample of a tenant (bytes), 0 when none was taken yet. */
  async #databaseBytes(exec: Kysely<Schema>, tenantId: string): Promise<number> {
    const row = await exec
      .selectFrom('usage_rollups')
      .select('max_amount')
      .where('tenant_id', '=', tenantId)
      .where('granularity', '=', 'hour')
      .where('resource', '=', DATABASE_BYTES)
      .orderBy('bucket_start', 'desc')
      .limit(1)
      .executeTakeFirst();
    return Number(row?.max_amount ?? 0);
  }

  /**
   * Before an object write of `bytes` to `key`: reserve the growth over the object it
   * replaces, or refuse with 409 `quota_exceeded` (storageLimitBytes) when objects plus the
   * database would go over. Returns the bytes reserved, for {@link commitObject} or
   * {@link abortObject}.
   */
  async reserveObject(tenantId: string, key: string, bytes: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const { quotas, phase } = await this.#tenant(trx, tenantId);
      assertWritable(tenantId, phase);
      const used = await this.#lockCounter(trx, tenantId, OBJECT_BYTES_COUNTER);
      const previous = await trx
        .selectFrom('tenant_objects')
        .select('bytes')
        .where('tenant_id', '=', tenantId)
        .where('key', '=', key)
        .executeTakeFirst();
      const grow = Math.max(0, bytes - Number(previous?.bytes ?? 0));
      if (grow > 0) {
        const database = await this.#databaseBytes(trx, tenantId);
        const limit = quotas.storageLimitBytes;
        if (used + database + grow > limit) {
          throw quotaExceeded(
            tenantId,
            'storageLimitBytes',
            limit,
            used + database,
            `storage limit is ${limit} bytes, ${used + database} in use (objects ${used}, database ${database}); writing ${bytes} bytes would exceed it`,
            { extra: { requested: bytes } },
          );
        }
        await this.#setCounter(trx, tenantId, OBJECT_BYTES_COUNTER, used + grow);
      }
      return grow;
    });
  }

  /** After the write: record the object's size (replacing the reservation by the true change), audited with its event. */
  async commitObject(
    actor: Actor,
    tenantId: string,
    object: { key: string; bytes: number; contentType: string; etag: string },
    reserved: number,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const used = await this.#lockCounter(trx, tenantId, OBJECT_BYTES_COUNTER);
      const previous = await trx
        .selectFrom('tenant_objects')
        .select('bytes')
        .where('tenant_id', '=', tenantId)
        .where('key', '=', object.key)
        .executeTakeFirst();
      const now = new Date().toISOString();
      await this.#setCounter(
        trx,
        tenantId,
        OBJECT_BYTES_COUNTER,
        used - reserved + object.bytes - Number(previous?.bytes ?? 0),
      );
      await trx
        .insertInto('tenant_objects')
        .values({
          tenant_id: tenantId,
          key: object.key,
          bytes: object.bytes,
          content_type: object.contentType,
          etag: object.etag,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc
            .columns(['tenant_id', 'key'])
            .doUpdateSet({ bytes: object.bytes, content_type: object.contentType, etag: object.etag, updated_at: now }),
        )
        .execute();
      const details = { key: object.key, bytes: object.bytes, previousBytes: previous ? Number(previous.bytes) : null };
      await this.audit.recordChange(trx, {
        actor,
        action: 'object.put',
        target: `tenant/${tenantId}/objects/${object.key}`,
        tenantId,
        outcome: 'success',
        details,
        event: { type: 'object.written', tenantId, payload: { tenantId, ...details } },
      });
    });
  }

  /** The write failed: give the reservation back. */
  async abortObject(tenantId: string, reserved: number): Promise<void> {
    if (reserved === 0) return;
    await this.db.transaction().execute(async (trx) => {
      const used = await this.#lockCounter(trx, tenantId, OBJECT_BYTES_COUNTER);
      await this.#setCounter(trx, tenantId, OBJECT_BYTES_COUNTER, used - reserved);
    });
  }

  /** After a delete: forget the object's size; audited with its event. */
  async forgetObject(actor: Actor, tenantId: string, key: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const used = await this.#lockCounter(trx, tenantId, OBJECT_BYTES_COUNTER);
      const previous = await trx
        .deleteFrom('tenant_objects')
        .where('tenant_id', '=', tenantId)
        .where('key', '=', key)
        .returning('bytes')
        .executeTakeFirst();
      if (previous) await this.#setCounter(trx, tenantId, OBJECT_BYTES_COUNTER, used - Number(previous.bytes));
      const details = { key, bytes: previous ? Number(previous.bytes) : 0, existed: previous !== undefined };
      await this.audit.recordChange(trx, {
        actor,
        action: 'object.delete',
        target: `tenant/${tenantId}/objects/${key}`,
        tenantId,
        outcome: 'success',
        details,
        event: { type: 'object.deleted', tenantId, payload: { tenantId, ...details } },
      });
      return previous !== undefined;
    });
  }

  /** Bytes of objects a tenant holds through the handles. */
  async objectBytes(tenantId: string): Promise<number> {
    const row = await this.db
      .selectFrom('quota_counters')
      .select('used')
      .where('tenant_id', '=', tenantId)
      .where('quota', '=', OBJECT_BYTES_COUNTER)
      .executeTakeFirst();
    return Number(row?.used ?? 0);
  }

  /**
   * Refuse with 403 `quota_exceeded` (and `Retry-After` until the next month) when the
   * tenant's cost this month is over `maxCostPerMonthUsd`.
   */
  async assertCostAllowed(tenantId: string, now = Date.now()): Promise<void> {
    const state = (await this.status(tenantId, now)).find((q) => q.quota === 'maxCostPerMonthUsd')!;
    if (state.exceeded) {
      throw quotaExceeded(
        tenantId,
        'maxCostPerMonthUsd',
        state.limit,
        state.current!,
        `cost this month is ${state.current} USD, the limit is ${state.limit} USD`,
        { status: 403, retryAfterSeconds: Math.max(1, Math.ceil((Date.parse(state.resetsAt!) - now) / 1000)) },
      );
    }
  }

  /** Every quota of the tenant with its limit and current use. */
  async status(tenantId: string, now = Date.now()): Promise<QuotaState[]> {
    const { spec, quotas } = await this.#tenant(this.db, tenantId);
    const counters = await this.db
      .selectFrom('quota_counters')
      .select(['quota', 'used'])
      .where('tenant_id', '=', tenantId)
      .execute();
    const counter = (name: string) => Number(counters.find((c) => c.quota === name)?.used ?? 0);
    const hour = bucketStart(now, 'hour');
    const requests = await this.db
      .selectFrom('usage_rollups')
      .select('amount')
      .where('tenant_id', '=', tenantId)
      .where('granularity', '=', 'hour')
      .where('resource', '=', REQUESTS)
      .where('bucket_start', '=', new Date(hour))
      .executeTakeFirst();
    const storage = counter(OBJECT_BYTES_COUNTER) + (await this.#databaseBytes(this.db, tenantId));
    const month = monthOf(now);
    const cost = await this.usage.monthCost(tenantId, spec.plan, month);
    const state = (
      quota: keyof EffectiveQuotas,
      current: number | null,
      unit: string,
      enforcedBy: QuotaState['enforcedBy'],
      resetsAt: string | null,
      exceeded?: boolean,
    ): QuotaState => ({
      quota,
      limit: quotas[quota],
      current,
      unit,
      exceeded: exceeded ?? (current !== null && current > quotas[quota]),
      enforcedBy,
      resetsAt,
    });
    const hourRequests = Number(requests?.amount ?? 0);
    return [
      state(
        'maxRequestsPerHour',
        hourRequests,
        'requests',
        'sdk',
        new Date(hour + 3_600_000).toISOString(),
        hourRequests >= quotas.maxRequestsPerHour,
      ),
      state('maxConcurrentRequests', null, 'requests', 'sdk', null),
      state(
        'maxUsers',
        counter(COUNTER_OF.maxUsers),
        'users',
        'control-plane',
        null,
        counter(COUNTER_OF.maxUsers) >= quotas.maxUsers,
      ),
      state(
        'maxProjects',
        counter(COUNTER_OF.maxProjects),
        'projects',
        'control-plane',
        null,
        counter(COUNTER_OF.maxProjects) >= quotas.maxProjects,
      ),
      state('storageLimitBytes', storage, 'bytes', 'control-plane', null, storage >= quotas.storageLimitBytes),
      state(
        'maxCostPerMonthUsd',
        cost,
        'USD',
        'sdk',
        monthRange(month).to.toISOString(),
        costExceeded(cost, quotas.maxCostPerMonthUsd),
      ),
    ];
  }
}

/** Counts and objects change only while the tenant is live. */
function assertWritable(tenantId: string, phase: string): void {
  if (phase === 'deleting' || phase === 'deleted' || phase === 'archiving' || phase === 'archived') {
    throw new TenancyError(`tenant_${phase}`, `tenant ${tenantId} is ${phase}; its quotas cannot be used`);
  }
}
