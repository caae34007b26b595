/**
 * Rate limits and request quotas, checked on every admitted request:
 *
 * - configured rate limits per tenant and per credential (rate-limiter-flexible; in memory,
 *   or in Redis so that every instance of the app shares them);
 * - the tenant's `maxRequestsPerHour` and `maxConcurrentRequests` from its context, read on
 *   every request, so a quota changed in the manifest applies as soon as the context does.
 *
 * Answers carry the IETF draft `RateLimit-Policy` / `RateLimit` fields; refusals are 429
 * problems with `Retry-After`. When Redis cannot answer, reads pass and writes get 503
 * `rate_limiter_unavailable` by default (a configurable choice, see docs/sdk.md).
 */
import { TenancyError } from '../errors.js';
import { connectCounters, type Counter, type Counters, type WindowCount } from './counters/index.js';
import {
  FairScheduler,
  PLAN_WEIGHTS,
  refusalError,
  type FairSchedulerOptions,
  type ReleaseSlot,
} from './fair-scheduler.js';
import type { Principal, TenantContext } from './types.js';

/** A rate-limit policy: `points` requests per `durationSeconds`. */
export interface RatePolicy {
  points: number;
  durationSeconds: number;
}

/** What to do when the limiter's store (Redis) cannot answer. */
export type FailureMode = 'open' | 'closed';

/** Options for {@link RequestLimiter}. */
export interface RequestLimiterOptions {
  /** Requests per tenant (all its credentials together); none by default. */
  perTenant?: RatePolicy;
  /** Requests per credential (API key id); none by default. */
  perCredential?: RatePolicy;
  /** Share counters through Redis (`redis://host:port`); in memory when unset. */
  redisUrl?: string;
  /** Prefix of the Redis keys (default `tenancy:rl`). */
  keyPrefix?: string;
  /** Redis unreachable: reads (GET, HEAD, OPTIONS) `open` by default, writes `closed` by default. */
  onStoreFailure?: { reads?: FailureMode; writes?: FailureMode };
  /**
   * Fair scheduling of requests in flight (see {@link FairScheduler}): `capacity` slots for
   * the instance, shared by weight (`weights` by plan, default free 1, starter 2, pro 4,
   * enterprise 8), each tenant held to its `maxConcurrentRequests`, and a bounded queue per
   * tenant. Without it, each tenant is only held to its own cap and never waits.
   */
  scheduling?: FairSchedulerOptions & { weights?: Record<string, number> };
}

/** A request that passed: headers to add, and `release` for the concurrency slot. */
export interface Granted {
  headers: Record<string, string>;
  release(): void;
}

interface Meter {
  name: string;
  /** Where the meter counts (see {@link Counters}): synchronously in memory, or a promise from Redis. */
  count: Counter;
  key: (tenant: TenantContext, principal: Principal) => string;
  /** The limit: fixed for configured policies, the tenant's quota for the hourly one. */
  limit: (tenant: TenantContext) => number;
  windowSeconds: number;
  code: 'rate_limited' | 'quota_exceeded';
  /** The meter's `RateLimit-Policy` item for a limit (cached: limits rarely change). */
  policy: (limit: number) => string;
  /**
   * Keys this meter refused, until their window ends: their next requests are refused from
   * here without a store call (the count cannot fall before the window ends). A changed
   * limit (a quota raised in the manifest) lifts the block.
   */
  blocked: Map<string, { resetAt: number; limit: number; current: number }>;
}

/** Blocked keys kept per meter at most (a flood of distinct keys cannot grow it without bound). */
const MAX_BLOCKED = 10_000;

/** A meter's policy item, built once per distinct limit (a few per meter in practice). */
function policyOf(name: string, windowSeconds: number): (limit: number) => string {
  const cache = new Map<number, string>();
  return (limit) => {
    let item = cache.get(limit);
    if (item === undefined) {
      if (cache.size >= 1_000) cache.clear();
      cache.set(limit, (item = `"${name}";q=${limit};w=${windowSeconds}`));
    }
    return item;
  };
}

const HOUR_SECONDS = 3_600;

/** The limiter; one per app instance. */
export class RequestLimiter {
  readonly #meters: Meter[] = [];
  readonly #scheduler: FairScheduler;
  readonly #weights: Readonly<Record<string, number>>;
  readonly #reads: FailureMode;
  readonly #writes: FailureMode;
  /** Joined `RateLimit-Policy` values by hourly quota (see {@link #policyOf}). */
  readonly #policies = new Map<number, string>();

  private constructor(
    options: RequestLimiterOptions,
    private readonly counters: Counters,
  ) {
    this.#reads = options.onStoreFailure?.reads ?? 'open';
    this.#writes = options.onStoreFailure?.writes ?? 'closed';
    const { weights, ...scheduling } = options.scheduling ?? {};
    // A queue only helps where there is a shared capacity to wait for: the default keeps
    // one waiter-less refusal per tenant cap, as before scheduling existed.
    this.#scheduler = new FairScheduler({
      maxQueuedPerTenant: scheduling.capacity !== undefined ? 16 : 0,
      ...scheduling,
    });
    this.#weights = { ...PLAN_WEIGHTS, ...weights };
    // Each meter its own counter, which only counts: the limits are compared in #settle().
    if (options.perTenant) {
      const p = options.perTenant;
      this.#meters.push({
        name: 'tenant',
        count: counters.fixedWindow('tenant', p.durationSeconds),
        key: (t) => t.id,
        limit: () => p.points,
        windowSeconds: p.durationSeconds,
        code: 'rate_limited',
        policy: policyOf('tenant', p.durationSeconds),
        blocked: new Map(),
      });
    }
    if (options.perCredential) {
      const p = options.perCredential;
      this.#meters.push({
        name: 'credential',
        count: counters.fixedWindow('credential', p.durationSeconds),
        key: (_t, pr) => pr.keyId,
        limit: () => p.points,
        windowSeconds: p.durationSeconds,
        code: 'rate_limited',
        policy: policyOf('credential', p.durationSeconds),
        blocked: new Map(),
      });
    }
    // The quota differs per tenant and may change at any time, so the store only counts
    // (its own limit is out of reach) and the comparison with the current quota is ours.
    this.#meters.push({
      name: 'hourly',
      count: counters.fixedWindow('hourly', HOUR_SECONDS),
      key: (t) => t.id,
      limit: (t) => t.quotas.maxRequestsPerHour,
      windowSeconds: HOUR_SECONDS,
      code: 'quota_exceeded',
      policy: policyOf('hourly', HOUR_SECONDS),
      blocked: new Map(),
    });
  }

  /** Build a limiter; with `redisUrl`, its counters are in Redis (loaded only then). */
  static async create(options: RequestLimiterOptions = {}): Promise<RequestLimiter> {
    const counters = await connectCounters({
      redisUrl: options.redisUrl,
      keyPrefix: options.keyPrefix ?? 'tenancy:rl',
    });
    return new RequestLimiter(options, counters);
  }

  /**
   * Count the request against every meter. When every count answers at once (in memory)
   * the answer is synchronous: a `Granted`, or the 429/503 problem returned (not thrown: a
   * throw costs a stack walk, and a flood is refused on every request); when a count is a
   * promise (Redis), or the request waits for a fair-scheduling slot, it is a promise that
   * rejects with the problem.
   */
  admit(tenant: TenantContext, principal: Principal, write: boolean): Granted | TenancyError | Promise<Granted> {
    const meters = this.#meters;
    const now = Date.now();
    for (let i = 0; i < meters.length; i++) {
      const meter = meters[i]!;
      if (meter.blocked.size === 0) continue;
      const key = meter.key(tenant, principal);
      const block = meter.blocked.get(key);
      if (block === undefined) continue;
      if (block.resetAt > now && block.limit === meter.limit(tenant))
        return this.#refusal(meter, tenant, block.limit, block.current, block.resetAt - now);
      meter.blocked.delete(key);
    }
    // One count per meter; a count that is a promise (Redis) makes the answer one, and the
    // meters' round trips overlap.
    const outcomes: Array<WindowCount | Promise<WindowCount | undefined>> = new Array(meters.length);
    let pending = false;
    for (let i = 0; i < meters.length; i++) {
      const outcome = meters[i]!.count(meters[i]!.key(tenant, principal));
      if (outcome instanceof Promise) pending = true;
      outcomes[i] = outcome;
    }
    if (!pending) return this.#settle(tenant, principal, write, outcomes as WindowCount[]);
    return Promise.all(outcomes).then((counted) => {
      const settled = this.#settle(tenant, principal, write, counted);
      if (settled instanceof TenancyError) throw settled;
      return settled;
    });
  }

  /** Compare the meters' counts with their limits, build the headers, take a concurrency slot. */
  #settle(
    tenant: TenantContext,
    principal: Principal,
    write: boolean,
    outcomes: Array<WindowCount | undefined>,
  ): Granted | TenancyError | Promise<Granted> {
    const meters = this.#meters;
    let remaining = '';
    let refusal: TenancyError | undefined;
    let answered = 0;
    for (let i = 0; i < meters.length; i++) {
      const meter = meters[i]!;
      const outcome = outcomes[i];
      // No answer: the store could not count (see the failure modes below).
      if (outcome === undefined) continue;
      answered++;
      const res = outcome;
      const limit = meter.limit(tenant);
      const left = limit > res.consumedPoints ? limit - res.consumedPoints : 0;
      const resetSeconds = res.msBeforeNext > 1000 ? Math.ceil(res.msBeforeNext / 1000) : 1;
      const r = `"${meter.name}";r=${left};t=${resetSeconds}`;
      remaining = remaining === '' ? r : `${remaining}, ${r}`;
      if (res.consumedPoints > limit && !refusal) {
        refusal = this.#refusal(meter, tenant, limit, res.consumedPoints - 1, res.msBeforeNext);
        if (res.msBeforeNext > 0) {
          if (meter.blocked.size >= MAX_BLOCKED) meter.blocked.clear();
          meter.blocked.set(meter.key(tenant, principal), {
            resetAt: Date.now() + res.msBeforeNext,
            limit,
            current: res.consumedPoints - 1,
          });
        }
      }
    }
    const headers: Record<string, string> =
      answered === 0
        ? {}
        : {
            'RateLimit-Policy':
              answered === meters.length ? this.#policyOf(tenant) : this.#partialPolicy(tenant, outcomes),
            RateLimit: remaining,
          };
    if (answered < meters.length && (write ? this.#writes : this.#reads) === 'closed') {
      return refusalError('rate_limiter_unavailable', 'the rate limiter cannot reach its store; try again shortly', {
        headers: { 'Retry-After': '1' },
      });
    }
    if (refusal) {
      Object.assign(refusal.headers, headers);
      return refusal;
    }
    let slot: ReleaseSlot | Promise<ReleaseSlot>;
    try {
      slot = this.#acquire(tenant);
    } catch (error) {
      if (!(error instanceof TenancyError)) throw error;
      Object.assign(error.headers, headers);
      return error;
    }
    if (typeof slot === 'function') return { headers, release: slot };
    return slot.then(
      (release) => ({ headers, release }),
      (error: unknown) => {
        if (error instanceof TenancyError) Object.assign(error.headers, headers);
        throw error;
      },
    );
  }

  /**
   * The `RateLimit-Policy` value of all meters for a tenant: built once per distinct
   * `maxRequestsPerHour` (the only limit that differs between tenants), as one flat string.
   */
  #policyOf(tenant: TenantContext): string {
    const hourly = tenant.quotas.maxRequestsPerHour;
    let value = this.#policies.get(hourly);
    if (value === undefined) {
      if (this.#policies.size >= 1_000) this.#policies.clear();
      value = this.#meters.map((m) => m.policy(m.limit(tenant))).join(', ');
      this.#policies.set(hourly, value);
    }
    return value;
  }

  /** The policy items of the meters that answered (a store failure left the others out). */
  #partialPolicy(tenant: TenantContext, outcomes: Array<WindowCount | undefined>): string {
    return this.#meters
      .filter((_m, i) => outcomes[i] !== undefined)
      .map((m) => m.policy(m.limit(tenant)))
      .join(', ');
  }

  /** The 429 of a meter whose limit is used up, with its `RateLimit` fields. */
  #refusal(meter: Meter, tenant: TenantContext, limit: number, current: number, msLeft: number): TenancyError {
    const resetSeconds = msLeft > 1000 ? Math.ceil(msLeft / 1000) : 1;
    const extensions =
      meter.code === 'quota_exceeded'
        ? { quota: 'maxRequestsPerHour', limit, current }
        : { policy: meter.name, limit, windowSeconds: meter.windowSeconds };
    const detail =
      meter.code === 'quota_exceeded'
        ? `tenant ${tenant.id} used its quota of ${limit} requests per hour`
        : `the ${meter.name} rate limit of ${limit} requests per ${meter.windowSeconds} s is used up`;
    return refusalError(meter.code, detail, {
      status: 429,
      extensions,
      headers: {
        'Retry-After': String(resetSeconds),
        'RateLimit-Policy': meter.policy(limit),
        RateLimit: `"${meter.name}";r=0;t=${resetSeconds}`,
      },
    });
  }

  /**
   * One slot of the tenant's `maxConcurrentRequests`, counted in this instance (a slot must
   * be freed even if the process dies, which a shared counter cannot promise), handed out
   * by the fair scheduler when the instance has a capacity.
   */
  #acquire(tenant: TenantContext): ReleaseSlot | Promise<ReleaseSlot> {
    return this.#scheduler.acquire(tenant.id, {
      weight: this.#weights[tenant.plan] ?? 1,
      cap: tenant.quotas.maxConcurrentRequests,
    });
  }

  /** Requests in flight for a tenant in this instance. */
  inFlight(tenantId: string): number {
    return this.#scheduler.running(tenantId);
  }

  /** Requests of a tenant waiting for a slot in this instance. */
  queued(tenantId: string): number {
    return this.#scheduler.queued(tenantId);
  }

  async close(): Promise<void> {
    await this.counters.close();
  }
}
