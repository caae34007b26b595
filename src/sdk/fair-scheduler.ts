/**
 * A tenant-aware scheduler for work that competes for a fixed number of slots: requests in
 * the SDK's concurrency guard, jobs in {@link FairQueueConsumer}. It is start-time fair
 * queuing (Goyal et al., SFQ) over per-tenant queues:
 *
 * - each tenant gets slots in proportion to its weight (by plan) while others wait, and a
 *   tenant that was idle gets no credit it could later spend to crowd others out;
 * - no tenant runs more than its own cap (`maxConcurrentRequests`) at once;
 * - each tenant's queue is bounded; when it is full, or a waiter waits longer than
 *   `maxWaitMs`, the work is refused with 429 and `Retry-After` instead of queuing without end.
 *
 * So a noisy tenant fills only its own queue and its own share of the slots. Everything is
 * in this process; it allocates nothing per call on the fast path (a free slot, no waiters).
 */
import { TenancyError } from '../errors.js';

/** Options for {@link FairScheduler}. */
export interface FairSchedulerOptions {
  /** Slots across all tenants (default: unlimited, so only each tenant's cap applies). */
  capacity?: number;
  /** Waiters a tenant may have before more are refused (default 0: refuse at once when no slot is free). */
  maxQueuedPerTenant?: number;
  /** Longest a waiter waits for a slot before it is refused (default 10,000 ms). */
  maxWaitMs?: number;
}

/** What the scheduler needs to know about a piece of work's tenant. */
export interface TenantShare {
  /** Relative share of the slots while tenants compete (> 0). */
  weight: number;
  /** Slots the tenant may hold at once (its `maxConcurrentRequests`). */
  cap: number;
}

/** Frees a slot; calling it more than once is harmless. */
export type ReleaseSlot = () => void;

/**
 * A refusal without a stack trace: 429s are answered by the thousand when a tenant floods
 * the app, and capturing a stack is most of what building one costs; the stack of a
 * refusal would only point here anyway.
 */
export function refusalError(...args: ConstructorParameters<typeof TenancyError>): TenancyError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new TenancyError(...args);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Default weights by plan: a higher plan gets a larger share of a busy instance. */
export const PLAN_WEIGHTS: Readonly<Record<string, number>> = { free: 1, starter: 2, pro: 4, enterprise: 8 };

interface Waiter {
  tag: number;
  resolve: (release: ReleaseSlot) => void;
  reject: (error: TenancyError) => void;
  timer: NodeJS.Timeout | undefined;
}

interface TenantState {
  running: number;
  cap: number;
  /** Finish tag of the tenant's last queued work (SFQ): the next one starts no earlier. */
  lastFinish: number;
  waiting: Waiter[];
}

/** Weighted fair scheduler over per-tenant queues; one per app instance (or per consumer). */
export class FairScheduler {
  readonly #capacity: number;
  readonly #maxQueued: number;
  readonly #maxWaitMs: number;
  readonly #tenants = new Map<string, TenantState>();
  /** Tenants with at least one waiter. */
  readonly #backlogged = new Set<string>();
  #running = 0;
  #waiting = 0;
  /** Virtual time: the start tag of the work dispatched last. */
  #virtual = 0;
  /** Moving average of how long a slot is held, for `Retry-After`. */
  #serviceMs = 50;

  constructor(options: FairSchedulerOptions = {}) {
    this.#capacity = options.capacity ?? Number.POSITIVE_INFINITY;
    this.#maxQueued = options.maxQueuedPerTenant ?? 0;
    this.#maxWaitMs = options.maxWaitMs ?? 10_000;
    if (!(this.#capacity >= 1)) throw new RangeError('capacity must be at least 1');
    if (!(this.#maxQueued >= 0)) throw new RangeError('maxQueuedPerTenant must be >= 0');
  }

  /**
   * A slot for `tenantId`: at once (a function) when one is free and nobody of that tenant
   * waits, else a promise that resolves in fair order. Throws (or rejects) a 429
   * `TenancyError` when the tenant's queue is full or the wait exceeds `maxWaitMs`.
   */
  acquire(tenantId: string, share: TenantShare): ReleaseSlot | Promise<ReleaseSlot> {
    let state = this.#tenants.get(tenantId);
    if (!state) {
      state = { running: 0, cap: share.cap, lastFinish: 0, waiting: [] };
      this.#tenants.set(tenantId, state);
    }
    state.cap = share.cap;
    if (state.waiting.length === 0 && state.running < state.cap && this.#running < this.#capacity)
      return this.#grant(tenantId, state);
    if (state.waiting.length >= this.#maxQueued) throw this.#refusal(tenantId, state, 'queue_full');
    const weight = share.weight > 0 ? share.weight : 1;
    const tag = Math.max(this.#virtual, state.lastFinish);
    state.lastFinish = tag + 1 / weight;
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter: Waiter = { tag, resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => this.#expire(tenantId, waiter), this.#maxWaitMs);
      waiter.timer.unref?.();
      state.waiting.push(waiter);
      this.#waiting++;
      this.#backlogged.add(tenantId);
    });
  }

  /** Slots held by a tenant now. */
  running(tenantId: string): number {
    return this.#tenants.get(tenantId)?.running ?? 0;
  }

  /** Waiters of a tenant now. */
  queued(tenantId: string): number {
    return this.#tenants.get(tenantId)?.waiting.length ?? 0;
  }

  /** Slots held and waiters across all tenants. */
  get load(): { running: number; waiting: number; tenants: number } {
    return { running: this.#running, waiting: this.#waiting, tenants: this.#tenants.size };
  }

  #grant(tenantId: string, state: TenantState): ReleaseSlot {
    state.running++;
    this.#running++;
    const started = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#serviceMs += (performance.now() - started - this.#serviceMs) / 16;
      state.running--;
      this.#running--;
      // An idle tenant is forgotten (memory stays bounded by busy tenants); coming back, it
      // starts at the current virtual time, as SFQ would have it anyway.
      if (state.running === 0 && state.waiting.length === 0) this.#tenants.delete(tenantId);
      this.#dispatch();
    };
  }

  /** Hand free slots to the eligible waiter with the smallest start tag, until none is left. */
  #dispatch(): void {
    while (this.#running < this.#capacity && this.#waiting > 0) {
      let best: string | undefined;
      let bestState: TenantState | undefined;
      for (const id of this.#backlogged) {
        const s = this.#tenants.get(id)!;
        if (s.running >= s.cap) continue;
        if (!bestState || s.waiting[0]!.tag < bestState.waiting[0]!.tag) {
          best = id;
          bestState = s;
        }
      }
      if (!best || !bestState) return;
      const waiter = bestState.waiting.shift()!;
      this.#waiting--;
      if (bestState.waiting.length === 0) this.#backlogged.delete(best);
      clearTimeout(waiter.timer);
      this.#virtual = Math.max(this.#virtual, waiter.tag);
      waiter.resolve(this.#grant(best, bestState));
    }
  }

  #expire(tenantId: string, waiter: Waiter): void {
    const state = this.#tenants.get(tenantId);
    if (!state) return;
    const i = state.waiting.indexOf(waiter);
    if (i < 0) return;
    state.waiting.splice(i, 1);
    this.#waiting--;
    if (state.waiting.length === 0) this.#backlogged.delete(tenantId);
    const refusal = this.#refusal(tenantId, state, 'timeout');
    if (state.running === 0 && state.waiting.length === 0) this.#tenants.delete(tenantId);
    waiter.reject(refusal);
  }

  /**
   * 429 for work that may not wait: `quota_exceeded` when the tenant's own cap is what
   * holds it back (as without a queue), `capacity_exceeded` when the instance is full.
   */
  #refusal(tenantId: string, state: TenantState, why: 'queue_full' | 'timeout'): TenancyError {
    const slots = Math.max(1, Math.min(state.cap, this.#capacity));
    const retryAfter = Math.max(1, Math.ceil(((state.waiting.length + 1) * this.#serviceMs) / slots / 1000));
    const headers = { 'Retry-After': String(retryAfter) };
    const waited =
      why === 'timeout'
        ? `waited ${this.#maxWaitMs} ms`
        : this.#maxQueued > 0
          ? `has ${state.waiting.length} requests waiting`
          : 'cannot wait';
    if (state.running >= state.cap) {
      return refusalError(
        'quota_exceeded',
        `tenant ${tenantId} has ${state.running} requests in flight, its limit is ${state.cap}`,
        {
          status: 429,
          extensions: {
            quota: 'maxConcurrentRequests',
            limit: state.cap,
            current: state.running,
            queued: state.waiting.length,
          },
          headers,
        },
      );
    }
    return refusalError(
      'capacity_exceeded',
      `this instance is at capacity and tenant ${tenantId} ${waited}; try again later`,
      {
        extensions: { capacity: this.#capacity, queued: state.waiting.length },
        headers,
      },
    );
  }
}
