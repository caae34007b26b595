/**
 * What every model call leaves behind: usage meters (`tokens_in`, `tokens_out`, `cost_usd`)
 * for the usage store, so the monthly cost report and the cost quota include model spend;
 * Prometheus metrics per tenant and model; and a call record for whoever keeps SLIs. Meters
 * are summed per tenant and written once a second (one meter per tenant and resource, one
 * store transaction per tenant), never on the request path.
 */
import { randomUUID } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Meter, UsageStore } from '../commercial/index.js';

/** One finished model call. */
export interface CallRecord {
  tenantId: string;
  /** The catalogue model that answered (or was tried last). */
  model: string;
  requestId: string;
  outcome: 'success' | 'error';
  /** Project error code when it failed. */
  code?: string;
  latencyMs: number;
  tokensIn: number;
  tokensOut: number;
  costMicros: number;
  fallback: boolean;
  stream: boolean;
}

/** Receives every call (the SLO module subscribes here). */
export type CallListener = (call: CallRecord) => void;

const FLUSH_MS = 1_000;

/** Meters, metrics and call listeners of the router. */
export class RouterMetering {
  /** Sums per tenant since the last write. */
  readonly #pending = new Map<string, { tokensIn: number; tokensOut: number; costMicros: number; calls: number }>();
  /** Meter ids are unique per process run and write. */
  readonly #instance = randomUUID();
  #flushes = 0;
  readonly #listeners: CallListener[] = [];
  readonly #requests: Counter<'tenant' | 'model' | 'outcome'>;
  readonly #tokens: Counter<'tenant' | 'model' | 'direction'>;
  readonly #cost: Counter<'tenant' | 'model'>;
  readonly #latency: Histogram<'tenant' | 'model'>;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly usage: UsageStore | undefined,
    registry: Registry,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {
    this.#requests = new Counter({
      name: 'tenancy_ai_requests_total',
      help: 'Model calls by tenant, model and outcome',
      labelNames: ['tenant', 'model', 'outcome'] as const,
      registers: [registry],
    });
    this.#tokens = new Counter({
      name: 'tenancy_ai_tokens_total',
      help: 'Tokens by tenant, model and direction (in, out)',
      labelNames: ['tenant', 'model', 'direction'] as const,
      registers: [registry],
    });
    this.#cost = new Counter({
      name: 'tenancy_ai_cost_usd_total',
      help: 'Model spend in USD by tenant and model',
      labelNames: ['tenant', 'model'] as const,
      registers: [registry],
    });
    this.#latency = new Histogram({
      name: 'tenancy_ai_request_duration_seconds',
      help: 'Model call latency (to the last byte) by tenant and model',
      labelNames: ['tenant', 'model'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
  }

  /** Subscribe to every finished call. */
  onCall(listener: CallListener): void {
    this.#listeners.push(listener);
  }

  /** Record a finished call. */
  record(call: CallRecord): void {
    const labels = { tenant: call.tenantId, model: call.model };
    this.#requests.inc({ ...labels, outcome: call.outcome });
    this.#latency.observe(labels, call.latencyMs / 1000);
    if (call.tokensIn > 0) this.#tokens.inc({ ...labels, direction: 'in' }, call.tokensIn);
    if (call.tokensOut > 0) this.#tokens.inc({ ...labels, direction: 'out' }, call.tokensOut);
    if (call.costMicros > 0) this.#cost.inc(labels, call.costMicros / 1e6);
    for (const l of this.#listeners) {
      try {
        l(call);
      } catch (error) {
        this.onError(error);
      }
    }
    if (!this.usage || (call.tokensIn === 0 && call.tokensOut === 0 && call.costMicros === 0)) return;
    // Summed per tenant until the next write: one meter per tenant and resource per second,
    // whatever the traffic (the usage store's rollups are hourly and daily).
    const sum = this.#pending.get(call.tenantId) ?? { tokensIn: 0, tokensOut: 0, costMicros: 0, calls: 0 };
    sum.tokensIn += call.tokensIn;
    sum.tokensOut += call.tokensOut;
    sum.costMicros += call.costMicros;
    sum.calls += 1;
    this.#pending.set(call.tenantId, sum);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, FLUSH_MS);
  }

  /** Write the summed meters now. */
  async flush(): Promise<void> {
    if (this.#flushing) await this.#flushing;
    if (!this.usage || this.#pending.size === 0) return;
    const batch = [...this.#pending];
    this.#pending.clear();
    const ts = new Date().toISOString();
    const id = `ai:${this.#instance}:${++this.#flushes}`;
    this.#flushing = (async () => {
      // Per tenant, so one purged tenant's meters cannot refuse everyone's.
      for (const [tenantId, sum] of batch) {
        const meters: Meter[] = [
          { tenantId, id: `${id}:tokens_in`, resource: 'tokens_in', amount: sum.tokensIn, ts },
          { tenantId, id: `${id}:tokens_out`, resource: 'tokens_out', amount: sum.tokensOut, ts },
          { tenantId, id: `${id}:cost_usd`, resource: 'cost_usd', amount: sum.costMicros / 1e6, ts },
        ];
        try {
          await this.usage!.record({ id: 'system:model-router', correlationId: id }, meters, 'router');
        } catch (error) {
          this.onError(error);
        }
      }
    })().finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
  }

  /** Flush and stop the timer. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
