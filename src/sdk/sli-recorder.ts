/**
 * The SDK's SLI recorder: every request the middleware admitted is counted when it finishes,
 * as a success or (a 5xx) an error, with its latency, in memory per tenant and minute (a
 * map update and a histogram bucket; no call to the control plane on the request path), and
 * flushed to the control plane (`POST /v1/slis`, which the app's credential needs `sli.write`
 * for) every few seconds and on close. A flush that fails is kept for the next one, up to
 * `maxPending` buckets; beyond that the oldest are dropped and counted.
 */
import { bucketOf, emptyHistogram, LATENCY_BUCKETS } from '../contract/index.js';
import type { TenancyClient } from './tenancy-client.js';

/** Options for {@link SliRecorder}. */
export interface SliRecorderOptions {
  /** Record and send SLI events (default true). */
  enabled?: boolean;
  /** Time between flushes (default 10,000 ms). */
  flushIntervalMs?: number;
  /** Minute buckets kept for delivery at most (default 10,000). */
  maxPending?: number;
  onError?: (error: unknown) => void;
}

interface Bucket {
  tenantId: string;
  minute: number;
  total: number;
  errors: number;
  latency: number[];
}

const MINUTE_MS = 60_000;

/** Aggregates requests' outcomes and latencies and sends them in batches. */
export class SliRecorder {
  readonly #buckets = new Map<string, Bucket>();
  #pending: Bucket[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #dropped = 0;
  #sent = 0;
  readonly #enabled: boolean;

  constructor(
    private readonly client: TenancyClient,
    private readonly options: SliRecorderOptions = {},
  ) {
    this.#enabled = options.enabled ?? true;
  }

  start(): void {
    if (!this.#enabled || this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  /** A request of `tenantId` finished with `status` after `latencyMs`. */
  record(tenantId: string, status: number, latencyMs: number, now = Date.now()): void {
    if (!this.#enabled) return;
    const minute = now - (now % MINUTE_MS);
    const key = `${tenantId}\u0000${minute}`;
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tenantId, minute, total: 0, errors: 0, latency: emptyHistogram() };
      this.#buckets.set(key, b);
    }
    b.total++;
    if (status >= 500) b.errors++;
    b.latency[bucketOf(latencyMs)]!++;
  }

  /** Delivery counters. */
  stats(): { buckets: number; pending: number; sent: number; dropped: number } {
    return { buckets: this.#buckets.size, pending: this.#pending.length, sent: this.#sent, dropped: this.#dropped };
  }

  /** Send what is recorded (one flush at a time). */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    this.#pending.push(...this.#buckets.values());
    this.#buckets.clear();
    const max = this.options.maxPending ?? 10_000;
    if (this.#pending.length > max) {
      this.#dropped += this.#pending.length - max;
      this.#pending = this.#pending.slice(-max);
    }
    while (this.#pending.length > 0) {
      const batch = this.#pending.slice(0, 1_000);
      try {
        await this.client.request('POST', '/v1/slis', {
          body: {
            buckets: batch.map((b) => ({
              tenantId: b.tenantId,
              source: 'sdk',
              minute: new Date(b.minute).toISOString(),
              total: b.total,
              errors: b.errors,
              latency: trimmed(b.latency),
            })),
          },
          propagate: false,
        });
      } catch (error) {
        this.options.onError?.(error);
        return; // kept for the next flush
      }
      this.#pending = this.#pending.slice(batch.length);
      this.#sent += batch.length;
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}

/** A histogram without its trailing zeros (the control plane reads missing buckets as 0). */
function trimmed(h: readonly number[]): number[] {
  let end = Math.min(h.length, LATENCY_BUCKETS);
  while (end > 0 && h[end - 1] === 0) end--;
  return h.slice(0, end);
}
