/**
 * The SDK's usage recorder. Counting a request is a map update: meters are summed in memory
 * per tenant, resource and UTC hour, and flushed to the control plane (`POST /v1/usage`)
 * every few seconds and on close. Each flushed aggregate gets an id once, so a flush
 * retried after a failure can never count twice (the control plane ignores a repeated
 * id). Memory is bounded: at most `maxPending` meters wait for delivery; beyond that the
 * oldest are dropped and counted in `stats().dropped`.
 */
import { randomBytes } from 'node:crypto';
import { TenancyError } from '../errors.js';
import type { TenancyClient } from './tenancy-client.js';

/** Options for {@link UsageMeter}. */
export interface UsageMeterOptions {
  /** Record and send meters (default true). */
  enabled?: boolean;
  /** Time between flushes (default 5000 ms). */
  flushIntervalMs?: number;
  /** Meters waiting for delivery at most; the oldest are dropped beyond it (default 10,000). */
  maxPending?: number;
  /** Meters per request to the control plane (default 1000, its limit). */
  maxBatch?: number;
  /** Called when a flush fails or meters are dropped. */
  onError?: (error: unknown) => void;
}

/** A meter ready to send. */
interface PendingMeter {
  tenantId: string;
  id: string;
  resource: string;
  amount: number;
  ts: string;
}

interface Aggregate {
  tenantId: string;
  resource: string;
  amount: number;
  firstMs: number;
}

/** Delivery counters. */
export interface UsageMeterStats {
  /** Aggregates not flushed yet. */
  aggregated: number;
  /** Meters flushed but not yet accepted (waiting for a retry). */
  pending: number;
  /** Meters the control plane accepted (or had already). */
  sent: number;
  /** Meters given up: the buffer was full, or the control plane refused them for good. */
  dropped: number;
}

const HOUR_MS = 3_600_000;
const RESOURCE = /^[a-z][a-z0-9_]{0,62}$/;

/** Buffers meters and flushes them to the control plane. */
export class UsageMeter {
  readonly #aggregates = new Map<string, Aggregate>();
  /** The hot path: this hour's request count per tenant (moved to the aggregates when the hour turns or on flush). */
  readonly #requests = new Map<string, { hour: number; amount: number; firstMs: number }>();
  #pending: PendingMeter[] = [];
  readonly #instance = randomBytes(8).toString('hex');
  #seq = 0;
  #sent = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  readonly #enabled: boolean;
  readonly #intervalMs: number;
  readonly #maxPending: number;
  readonly #maxBatch: number;

  constructor(
    private readonly client: TenancyClient,
    private readonly options: UsageMeterOptions = {},
  ) {
    this.#enabled = options.enabled ?? true;
    this.#intervalMs = options.flushIntervalMs ?? 5_000;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#maxBatch = Math.min(options.maxBatch ?? 1000, 1000);
  }

  /** Flush on a timer (unref'd: it never keeps the process alive). */
  start(): void {
    if (!this.#enabled || this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#intervalMs);
    this.#timer.unref();
  }

  /**
   * Count `amount` of `resource` for a tenant. Without `id` it is summed with the others of
   * the same tenant, resource and hour; with `id` (the app's own idempotency key) it is sent
   * as its own meter, so recording it again is harmless.
   */
  record(tenantId: string, resource: string, amount = 1, options: { id?: string; ts?: Date } = {}): void {
    if (!this.#enabled) return;
    if (!RESOURCE.test(resource))
      throw new TenancyError(
        'invalid_resource',
        `"${resource.slice(0, 70)}" is not a resource name (lowercase letters, digits and _)`,
      );
    if (!Number.isFinite(amount) || amount < 0)
      throw new TenancyError('invalid_amount', 'a usage amount must be a finite number >= 0');
    const ms = options.ts?.getTime() ?? Date.now();
    if (options.id !== undefined) {
      this.#enqueue([{ tenantId, id: options.id, resource, amount, ts: new Date(ms).toISOString() }]);
      return;
    }
    const key = `${tenantId}\u0000${resource}\u0000${Math.floor(ms / HOUR_MS)}`;
    const hit = this.#aggregates.get(key);
    if (hit) hit.amount += amount;
    else this.#aggregates.set(key, { tenantId, resource, amount, firstMs: ms });
  }

  /** One request served for `tenantId` (what the middleware calls): a map update. */
  request(tenantId: string): void {
    if (!this.#enabled) return;
    const ms = Date.now();
    const hour = Math.floor(ms / HOUR_MS);
    const hit = this.#requests.get(tenantId);
    if (hit && hit.hour === hour) {
      hit.amount++;
      return;
    }
    if (hit) this.#fold(tenantId, hit);
    this.#requests.set(tenantId, { hour, amount: 1, firstMs: ms });
  }

  /** Move a tenant's request count into the general aggregates. */
  #fold(tenantId: string, r: { hour: number; amount: number; firstMs: number }): void {
    const key = `${tenantId}\u0000requests\u0000${r.hour}`;
    const hit = this.#aggregates.get(key);
    if (hit) hit.amount += r.amount;
    else this.#aggregates.set(key, { tenantId, resource: 'requests', amount: r.amount, firstMs: r.firstMs });
  }

  #enqueue(meters: PendingMeter[]): void {
    this.#pending.push(...meters);
    const over = this.#pending.length - this.#maxPending;
    if (over > 0) {
      this.#pending.splice(0, over);
      this.#dropped += over;
      this.options.onError?.(
        new TenancyError(
          'usage_buffer_full',
          `${over} usage meters dropped: more than ${this.#maxPending} were waiting for the control plane`,
        ),
      );
    }
  }

  /**
   * Send everything recorded before the call; meters that could not be delivered stay for
   * the next flush. While a flush runs, one more is queued behind it (not more).
   */
  flush(): Promise<void> {
    if (this.#flushing) {
      this.#next ??= this.#flushing.then(() => {
        this.#next = undefined;
        return this.flush();
      });
      return this.#next;
    }
    this.#flushing = this.#flush().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    for (const [tenantId, r] of this.#requests) this.#fold(tenantId, r);
    this.#requests.clear();
    if (this.#aggregates.size > 0) {
      const batch: PendingMeter[] = [];
      for (const a of this.#aggregates.values()) {
        batch.push({
          tenantId: a.tenantId,
          id: `sdk:${this.#instance}:${(this.#seq++).toString(36)}`,
          resource: a.resource,
          amount: a.amount,
          ts: new Date(a.firstMs).toISOString(),
        });
      }
      this.#aggregates.clear();
      this.#enqueue(batch);
    }
    while (this.#pending.length > 0) {
      const batch = this.#pending.slice(0, this.#maxBatch);
      const outcome = await this.#send(batch);
      if (outcome === 'retry') return;
      this.#pending.splice(0, batch.length);
    }
  }

  /** Send one batch; a refusal of the whole batch is retried tenant by tenant, so one gone tenant does not hold back the rest. */
  async #send(batch: PendingMeter[]): Promise<'done' | 'retry'> {
    try {
      await this.client.request('POST', '/v1/usage', { body: { meters: batch }, propagate: false });
      this.#sent += batch.length;
      return 'done';
    } catch (error) {
      if (!(error instanceof TenancyError) || error.status >= 500 || error.status === 429 || error.status === 408) {
        this.options.onError?.(error);
        return 'retry';
      }
      const tenants = [...new Set(batch.map((m) => m.tenantId))];
      if (tenants.length === 1) {
        this.#dropped += batch.length;
        this.options.onError?.(error);
        return 'done';
      }
      for (const tenantId of tenants) {
        if ((await this.#send(batch.filter((m) => m.tenantId === tenantId))) === 'retry') return 'retry';
      }
      return 'done';
    }
  }

  stats(): UsageMeterStats {
    return {
      aggregated: this.#aggregates.size + this.#requests.size,
      pending: this.#pending.length,
      sent: this.#sent,
      dropped: this.#dropped,
    };
  }

  /** Stop the timer and flush once more. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#enabled) await this.flush().catch((error: unknown) => this.options.onError?.(error));
  }
}
