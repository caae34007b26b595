/**
 * Count, size and cost quotas in the app:
 *
 * - `maxCostPerMonthUsd` is checked on every admitted request (writes by default): the
 *   tenant's cost this month, read from the control plane (`GET /v1/tenants/{id}/quotas`),
 *   cached per tenant for a few seconds, refreshed in the background, and refreshed at once
 *   on the tenant's `quota.exceeded` event. Over the limit: 403
 *   `quota_exceeded` with `Retry-After` until the next month.
 * - `maxUsers` and `maxProjects` are counts the app owns: `reserve` takes one from the
 *   control plane's counter atomically across every app instance (409 when none is left),
 *   `release` gives it back, `set` re-syncs the counter with the app's own count, and
 *   `admit` checks a count the app holds itself against the current limit, with no call.
 *
 * The limit always comes from the tenant context, so a quota changed in the manifest
 * applies as soon as the context does, with no restart.
 */
import type { CountedQuota, QuotaUse, QuotaStatus as WireQuotaStatus } from '../contract/index.js';
import { TenancyError } from '../errors.js';
import type { EventFeed } from './event-feed.js';
import { currentTenant } from './request-context.js';
import type { TenancyClient } from './tenancy-client.js';
import type { TenantContext, TenantQuotas } from './types.js';

/** Which requests the monthly cost cap refuses. */
export type CostEnforcement = 'writes' | 'all' | 'off';

/** Options for {@link QuotaGuard}. */
export interface QuotaGuardOptions {
  /** Refuse writes (default), every request, or nothing once the month's cost is over the cap. */
  costEnforcement?: CostEnforcement;
  /** How long a tenant's cost is served from the cache before a background refresh (default 5000 ms). */
  costTtlMs?: number;
  /** Called when the cost could not be read (the request then passes). */
  onError?: (error: unknown) => void;
}

/** One quota as `GET /v1/tenants/{id}/quotas` reports it. */
export type QuotaStatus = WireQuotaStatus<keyof TenantQuotas>;

export type { CountedQuota, QuotaUse };

interface CostEntry {
  current: number;
  resetsAt: number;
  fetchedAt: number;
}

/** Count, size and cost quotas for the SDK. */
export class QuotaGuard {
  readonly #costs = new Map<string, CostEntry>();
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #enforcement: CostEnforcement;
  readonly #ttlMs: number;

  constructor(
    private readonly client: TenancyClient,
    feed: EventFeed,
    private readonly options: QuotaGuardOptions = {},
  ) {
    this.#enforcement = options.costEnforcement ?? 'writes';
    this.#ttlMs = options.costTtlMs ?? 5_000;
    // Only a cost alert needs an immediate read; otherwise the cached cost is refreshed after costTtlMs.
    feed.onEvent((event) => {
      if (event.type === 'tenancy.quota.exceeded' && event.subject && this.#costs.has(event.subject))
        void this.#refresh(event.subject);
    });
    feed.onReset(() => this.#costs.clear());
  }

  /**
   * Refuse the request when the tenant's monthly cost is over its cap (per `costEnforcement`).
   * Answers at once (undefined, or a throw) when nothing has to be read first.
   */
  checkCost(tenant: TenantContext, write: boolean): Promise<void> | undefined {
    if (this.#enforcement === 'off' || (this.#enforcement === 'writes' && !write)) return undefined;
    const entry = this.#costs.get(tenant.id);
    if (!entry) {
      return this.#refresh(tenant.id).then(() => {
        const read = this.#costs.get(tenant.id);
        if (read) this.#judge(tenant, read);
      });
    }
    if (Date.now() - entry.fetchedAt > this.#ttlMs) void this.#refresh(tenant.id);
    this.#judge(tenant, entry);
    return undefined;
  }

  #judge(tenant: TenantContext, entry: CostEntry): void {
    const limit = tenant.quotas.maxCostPerMonthUsd;
    const now = Date.now();
    if (entry.resetsAt <= now) return;
    if (entry.current > 0 && entry.current >= limit) {
      throw new TenancyError(
        'quota_exceeded',
        `tenant ${tenant.id}: cost this month is ${entry.current} USD, the limit is ${limit} USD`,
        {
          status: 403,
          extensions: { quota: 'maxCostPerMonthUsd', limit, current: entry.current },
          headers: { 'Retry-After': String(Math.max(1, Math.ceil((entry.resetsAt - now) / 1000))) },
        },
      );
    }
  }

  /** Read the tenant's cost again (one read at a time per tenant); a failure keeps what was known. */
  #refresh(tenantId: string): Promise<void> {
    const running = this.#inflight.get(tenantId);
    if (running) return running;
    const refreshing = this.status(tenantId)
      .then((items) => {
        const cost = items.find((q) => q.quota === 'maxCostPerMonthUsd');
        if (!cost) return;
        if (this.#costs.size >= 10_000 && !this.#costs.has(tenantId))
          this.#costs.delete(this.#costs.keys().next().value!);
        this.#costs.set(tenantId, {
          current: cost.current ?? 0,
          resetsAt: cost.resetsAt ? Date.parse(cost.resetsAt) : Number.POSITIVE_INFINITY,
          fetchedAt: Date.now(),
        });
      })
      .catch((error: unknown) => {
        this.options.onError?.(error);
        // Unknown cost passes; remembered as such for a TTL, so writes do not each wait on a failing read.
        if (!this.#costs.has(tenantId))
          this.#costs.set(tenantId, { current: 0, resetsAt: Number.POSITIVE_INFINITY, fetchedAt: Date.now() });
      })
      .finally(() => this.#inflight.delete(tenantId));
    this.#inflight.set(tenantId, refreshing);
    return refreshing;
  }

  /** Every quota of a tenant (default: the current request's) with its limit and use. */
  async status(tenantId: string = currentTenant().id): Promise<QuotaStatus[]> {
    const { items } = await this.client.request<{ items: QuotaStatus[] }>(
      'GET',
      `/v1/tenants/${encodeURIComponent(tenantId)}/quotas`,
      { propagate: false },
    );
    return items;
  }

  /**
   * Take `amount` of a counted quota before creating what it counts; throws 409
   * `quota_exceeded` (with quota, limit, current) when none is left. Atomic across every
   * instance of the app.
   */
  reserve(quota: CountedQuota, amount = 1, tenantId: string = currentTenant().id): Promise<QuotaUse> {
    return this.client.request<QuotaUse>(
      'POST',
      `/v1/tenants/${encodeURIComponent(tenantId)}/quotas/${quota}/reserve`,
      { body: { amount } },
    );
  }

  /** Give back what a deletion (or a failed create) freed. */
  release(quota: CountedQuota, amount = 1, tenantId: string = currentTenant().id): Promise<QuotaUse> {
    return this.client.request<QuotaUse>(
      'POST',
      `/v1/tenants/${encodeURIComponent(tenantId)}/quotas/${quota}/release`,
      { body: { amount } },
    );
  }

  /** Set the counter to the app's true count (a periodic reconcile). */
  set(quota: CountedQuota, current: number, tenantId: string = currentTenant().id): Promise<QuotaUse> {
    return this.client.request<QuotaUse>('PUT', `/v1/tenants/${encodeURIComponent(tenantId)}/quotas/${quota}`, {
      body: { current },
    });
  }

  /**
   * Check a count the app holds itself (e.g. `select count(*)` in the same transaction as
   * the insert) against the tenant's current limit: throws 409 `quota_exceeded` when
   * `current + amount` would exceed it. No call to the control plane.
   */
  admit(
    quota: CountedQuota,
    use: { current: number; amount?: number },
    tenant: TenantContext = currentTenant(),
  ): QuotaUse {
    const limit = tenant.quotas[quota];
    const amount = use.amount ?? 1;
    if (use.current + amount > limit) {
      throw new TenancyError(
        'quota_exceeded',
        `tenant ${tenant.id}: ${quota} is ${limit}, ${use.current} in use; ${amount} more would exceed it`,
        { extensions: { quota, limit, current: use.current, requested: amount } },
      );
    }
    return { quota, limit, current: use.current + amount };
  }
}
