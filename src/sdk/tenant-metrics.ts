/**
 * Prometheus metrics of the data plane with a `tenant` label of bounded cardinality. Only
 * the `topTenants` busiest tenants (by requests, re-ranked every `rankIntervalMs` over a
 * decaying count) keep their own label value; every other tenant is counted as `other`.
 * A tenant that drops out of the top has its series removed, so at most `topTenants` + 1
 * values of `tenant` ever exist at once, however many tenants the app serves.
 */
import { createRequire } from 'node:module';
import type { Counter as PromCounter, Registry as PromRegistry } from 'prom-client';

// prom-client's index also loads default process metrics, cluster aggregation and the
// push gateway client, some 12 MiB of RSS in an app that never uses them: the SDK loads the
// two classes it uses (the same files an app's own prom-client import shares).
const load = createRequire(import.meta.url);
const Registry = load('prom-client/lib/registry.js') as typeof PromRegistry;
const Counter = load('prom-client/lib/counter.js') as typeof PromCounter;
type Registry = PromRegistry;
type Counter<T extends string> = PromCounter<T>;

/** Label value for tenants outside the top. */
export const OTHER_TENANT = 'other';
/** Label value for refusals before a tenant was known (no or bad credential). */
export const NO_TENANT = 'none';
/** The outcome-and-code key of admitted requests. */
const ADMITTED = 'admitted\u0000';

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

/**
 * A histogram with one `tenant` label, counted in plain arrays on the request path and
 * turned into prom-client's exposition only when the registry is read. prom-client's own
 * Histogram hashes the label set and validates it on every observation, which costs a
 * busy app more than the request it measures; the exposition is the same.
 */
class TenantHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, { buckets: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  observe(tenant: string, seconds: number): void {
    let series = this.#series.get(tenant);
    if (!series)
      this.#series.set(tenant, (series = { buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 }));
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    if (i < bounds.length) series.buckets[i]!++;
    series.sum += seconds;
    series.count++;
  }

  remove(tenant: string): void {
    this.#series.delete(tenant);
  }

  reset(): void {
    this.#series.clear();
  }

  /** prom-client's shape of a metric (what `Registry.metrics()` and `getMetricsAsJSON()` read). */
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }>;
  } {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [tenant, series] of this.#series) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += series.buckets[i]!;
        values.push({ labels: { le, tenant }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', tenant }, value: series.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { tenant }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { tenant }, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** The SDK's request metrics. */
export class TenantMetrics {
  readonly registry: Registry;
  readonly labeler: TenantLabeler;
  readonly #requests: Counter<'tenant' | 'outcome' | 'code'>;
  readonly #duration: TenantHistogram;
  /** Counts not yet handed to the counter (it is brought up to date whenever it is read). */
  readonly #pending = new Map<string, number>();
  /** The same for admitted requests, keyed by the tenant label alone (no key to build per request). */
  readonly #admitted = new Map<string, number>();
  /** Label sets used per tenant label value, so a demoted tenant's series can be removed. */
  readonly #codes = new Map<string, Set<string>>();
  readonly #timer: NodeJS.Timeout;

  constructor(options: MetricsOptions = {}) {
    const prefix = options.prefix ?? 'tenancy_sdk_';
    this.registry = options.registry ?? new Registry();
    this.labeler = new TenantLabeler(options.topTenants ?? 20);
    const pending = this.#pending;
    const admitted = this.#admitted;
    this.#requests = new Counter({
      name: `${prefix}requests_total`,
      help: `Requests seen by the Tenancy middleware, by tenant (top ${options.topTenants ?? 20}, else "${OTHER_TENANT}"), outcome and refusal code`,
      labelNames: ['tenant', 'outcome', 'code'],
      registers: [this.registry],
      collect() {
        for (const [key, n] of pending) {
          const [tenant, outcome, code] = key.split('\u0000') as [string, string, string];
          this.inc({ tenant, outcome, code }, n);
        }
        pending.clear();
        for (const [tenant, n] of admitted) this.inc({ tenant, outcome: 'admitted', code: '' }, n);
        admitted.clear();
      },
    });
    this.#duration = new TenantHistogram(
      `${prefix}request_duration_seconds`,
      'Time from admission to the end of the response of admitted requests, by tenant (bounded like requests_total)',
      [...(options.buckets ?? [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])].sort(
        (a, b) => a - b,
      ),
    );
    this.registry.registerMetric(this.#duration as never);
    this.#timer = setInterval(() => this.rank(), options.rankIntervalMs ?? 60_000);
    this.#timer.unref();
  }

  /** An admitted request: returns a function to call when its response ends. */
  admitted(tenantId: string): () => void {
    const tenant = this.labeler.hit(tenantId);
    const n = this.#admitted.get(tenant);
    if (n !== undefined) this.#admitted.set(tenant, n + 1);
    else {
      this.#admitted.set(tenant, 1);
      this.#seen(tenant, ADMITTED);
    }
    const started = performance.now();
    return () => {
      // Recorded under the label the tenant has now: it may have left the top meanwhile.
      this.#duration.observe(this.labeler.label(tenantId), (performance.now() - started) / 1000);
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
        this.#pending.delete(`${tenant}\u0000${key}`);
        if (key === ADMITTED) this.#admitted.delete(tenant);
        this.#requests.remove({ tenant, outcome, code });
      }
      this.#codes.delete(tenant);
      this.#duration.remove(tenant);
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

  #seen(tenant: string, key: string): void {
    let seen = this.#codes.get(tenant);
    if (!seen) this.#codes.set(tenant, (seen = new Set()));
    seen.add(key);
  }

  #count(tenant: string, outcome: string, code: string): void {
    const key = `${outcome}\u0000${code}`;
    this.#seen(tenant, key);
    const full = `${tenant}\u0000${key}`;
    this.#pending.set(full, (this.#pending.get(full) ?? 0) + 1);
  }
}
