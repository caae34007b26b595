/**
 * Prometheus metrics of the data plane with a `tenant` label of bounded cardinality. Only
 * the `topTenants` busiest tenants (by requests, re-ranked every `rankIntervalMs` over a
 * decaying count) keep their own label value; every other tenant is counted as `other`.
 * A tenant that drops out of the top has its series removed, so at most `topTenants` + 1
 * values of `tenant` ever exist at once, however many tenants the app serves.
 */
import { Counter, Histogram, Registry } from 'prom-client';

/** Label value for tenants outside the top. */
export const OTHER_TENANT = 'other';
/** Label value for refusals before a tenant was known (no or bad credential). */
export const NO_TENANT = 'none';

/** Options for {@link TenantMetrics} (`createTenancy({ metrics })`). */
export interface MetricsOptions {
  /** Registry to register in (default: a registry of the SDK's own, `tenancy.metrics.registry`). */
  registry?: Registry;
  /** Tenants that keep their own label value (default 20). */
  topTenants?: number;
  /** How often the top is re-ranked (default 60,000 ms). */
  rankIntervalMs?: number;
  /** Metric name prefix (default `tenancy_sdk_`). */
  prefix?: string;
  /** Histogram buckets in seconds. */
  buckets?: number[];
}

/** Picks the label value for a tenant: itself while in the top, else `other`. */
export class TenantLabeler {
  readonly #top = new Set<string>();
  readonly #counts = new Map<string, number>();
  readonly #limit: number;
  readonly #maxTracked: number;

  constructor(limit: number) {
    this.#limit = limit;
    // Counting is bounded too: a tenant first seen when this many are tracked cannot enter the top before the next rank.
    this.#maxTracked = Math.max(1_000, limit * 50);
  }

  /** Count one request of the tenant and return its label value. */
  hit(tenantId: string): string {
    const n = this.#counts.get(tenantId);
    if (n !== undefined) this.#counts.set(tenantId, n + 1);
    else if (this.#counts.size < this.#maxTracked) this.#counts.set(tenantId, 1);
    if (this.#top.has(tenantId)) return tenantId;
    // Until the top is full, tenants join it as they come.
    if (this.#top.size < this.#limit) {
      this.#top.add(tenantId);
      return tenantId;
    }
    return OTHER_TENANT;
  }

  /** The label value without counting. */
  label(tenantId: string): string {
    return this.#top.has(tenantId) ? tenantId : OTHER_TENANT;
  }

  /**
   * Re-rank by the counts since the last rank (halved each time, so old traffic fades);
   * returns the tenants that left the top.
   */
  rank(): string[] {
    const ranked = [...this.#counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, this.#limit);
    const next = new Set(ranked.filter(([, n]) => n > 0).map(([id]) => id));
    const demoted = [...this.#top].filter((id) => !next.has(id));
    this.#top.clear();
    for (const id of next) this.#top.add(id);
    for (const [id, n] of this.#counts) {
      const half = Math.floor(n / 2);
      if (half === 0) this.#counts.delete(id);
      else this.#counts.set(id, half);
    }
    return demoted;
  }

  /** Tenants that currently have their own label value. */
  get top(): string[] {
    return [...this.#top];
  }
}

/** The SDK's request metrics. */
export class TenantMetrics {
  readonly registry: Registry;
  readonly labeler: TenantLabeler;
  readonly #requests: Counter<'tenant' | 'outcome' | 'code'>;
  readonly #duration: Histogram<'tenant'>;
  /** Label sets used per tenant label value, so a demoted tenant's series can be removed. */
  readonly #codes = new Map<string, Set<string>>();
  readonly #timer: NodeJS.Timeout;

  constructor(options: MetricsOptions = {}) {
    const prefix = options.prefix ?? 'tenancy_sdk_';
    this.registry = options.registry ?? new Registry();
    this.labeler = new TenantLabeler(options.topTenants ?? 20);
    this.#requests = new Counter({
      name: `${prefix}requests_total`,
      help: `Requests seen by the Tenancy middleware, by tenant (top ${options.topTenants ?? 20}, else "${OTHER_TENANT}"), outcome and refusal code`,
      labelNames: ['tenant', 'outcome', 'code'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: `${prefix}request_duration_seconds`,
      help: 'Time from admission to the end of the response of admitted requests, by tenant (bounded like requests_total)',
      labelNames: ['tenant'],
      buckets: options.buckets ?? [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.#timer = setInterval(() => this.rank(), options.rankIntervalMs ?? 60_000);
    this.#timer.unref();
  }

  /** An admitted request: returns a function to call when its response ends. */
  admitted(tenantId: string): () => void {
    const tenant = this.labeler.hit(tenantId);
    this.#count(tenant, 'admitted', '');
    const end = this.#duration.startTimer({ tenant });
    return () => {
      // Recorded under the label the tenant has now: it may have left the top meanwhile.
      end({ tenant: this.labeler.label(tenantId) });
    };
  }

  /** A refused request (`tenantId` undefined when the refusal came before a tenant was known). */
  refused(tenantId: string | undefined, code: string): void {
    this.#count(tenantId === undefined ? NO_TENANT : this.labeler.hit(tenantId), 'refused', code);
  }

  /** Re-rank the top now (done every `rankIntervalMs`); demoted tenants' series are removed. */
  rank(): string[] {
    const demoted = this.labeler.rank();
    for (const tenant of demoted) {
      for (const key of this.#codes.get(tenant) ?? []) {
        const [outcome, code] = key.split('\u0000') as [string, string];
        this.#requests.remove({ tenant, outcome, code });
      }
      this.#codes.delete(tenant);
      this.#duration.remove({ tenant });
    }
    return demoted;
  }

  /** Text exposition of the registry (for an app's `/metrics`). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #count(tenant: string, outcome: string, code: string): void {
    let seen = this.#codes.get(tenant);
    if (!seen) this.#codes.set(tenant, (seen = new Set()));
    seen.add(`${outcome}\u0000${code}`);
    this.#requests.inc({ tenant, outcome, code });
  }
}
