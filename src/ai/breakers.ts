/**
 * Circuit breakers, one per tenant and model, so one tenant's failing traffic to a model never
 * opens another tenant's breaker. Closed: calls go through and outcomes are counted in
 * one-second buckets over the window. When the failure rate reaches the tenant's threshold
 * over at least `minRequests` calls, the breaker opens and the model is skipped (the next in
 * the chain answers). After the cooldown one probe goes through (half-open): success closes
 * the breaker, failure opens it again. Breakers live in each replica's memory.
 */

/** A breaker's settings (from the tenant's router). */
export interface BreakerSettings {
  failureRate: number;
  minRequests: number;
  windowMs: number;
  cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = {
  failureRate: 0.5,
  minRequests: 5,
  windowMs: 30_000,
  cooldownMs: 15_000,
};

/** A breaker as status shows it. */
export interface BreakerState {
  model: string;
  state: 'closed' | 'open' | 'half-open';
  requests: number;
  failures: number;
  /** When an open breaker lets its probe through. */
  retryAt: string | null;
}

interface Breaker {
  state: 'closed' | 'open' | 'half-open';
  /** Per-second buckets: [second, requests, failures]. */
  buckets: Array<[number, number, number]>;
  openUntil: number;
  probing: boolean;
  touched: number;
}

const IDLE_MS = 15 * 60_000;
const MAX_BREAKERS = 200_000;

/** Every breaker of this replica. */
export class Breakers {
  readonly #all = new Map<string, Breaker>();
  #lastSweep = Date.now();

  #get(tenantId: string, model: string, now: number): Breaker {
    const key = `${tenantId}\u0000${model}`;
    let b = this.#all.get(key);
    if (!b) {
      if (this.#all.size >= MAX_BREAKERS || now - this.#lastSweep > IDLE_MS) this.#sweep(now);
      b = { state: 'closed', buckets: [], openUntil: 0, probing: false, touched: now };
      this.#all.set(key, b);
    }
    b.touched = now;
    return b;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [k, b] of this.#all) if (now - b.touched > IDLE_MS && b.state === 'closed') this.#all.delete(k);
  }

  /** Whether {@link allow} would let a call through now, without taking the half-open probe. */
  wouldAllow(tenantId: string, model: string, now = Date.now()): boolean {
    const b = this.#all.get(`${tenantId}\u0000${model}`);
    if (!b || b.state === 'closed') return true;
    if (b.state === 'open') return now >= b.openUntil;
    return !b.probing;
  }

  /** Whether a call to `model` may go now; a half-open breaker lets one probe through at a time. */
  allow(tenantId: string, model: string, now = Date.now()): boolean {
    const b = this.#all.get(`${tenantId}\u0000${model}`);
    if (!b || b.state === 'closed') return true;
    if (b.state === 'open') {
      if (now < b.openUntil) return false;
      b.state = 'half-open';
      b.probing = false;
    }
    if (b.probing) return false;
    b.probing = true;
    return true;
  }

  /** Count a call's outcome. */
  record(tenantId: string, model: string, ok: boolean, settings: BreakerSettings, now = Date.now()): void {
    const b = this.#get(tenantId, model, now);
    if (b.state === 'half-open') {
      b.probing = false;
      if (ok) {
        b.state = 'closed';
        b.buckets = [];
      } else this.#open(b, settings, now);
      return;
    }
    if (b.state === 'open') return;
    const second = Math.floor(now / 1000);
    const last = b.buckets[b.buckets.length - 1];
    if (last && last[0] === second) {
      last[1] += 1;
      if (!ok) last[2] += 1;
    } else b.buckets.push([second, 1, ok ? 0 : 1]);
    const oldest = second - Math.ceil(settings.windowMs / 1000);
    while (b.buckets.length > 0 && b.buckets[0]![0] <= oldest) b.buckets.shift();
    if (ok) return;
    let requests = 0;
    let failures = 0;
    for (const [, r, f] of b.buckets) {
      requests += r;
      failures += f;
    }
    if (requests >= settings.minRequests && failures / requests >= settings.failureRate) this.#open(b, settings, now);
  }

  #open(b: Breaker, settings: BreakerSettings, now: number): void {
    b.state = 'open';
    b.openUntil = now + settings.cooldownMs;
    b.buckets = [];
  }

  /** The tenant's breakers that saw traffic. */
  states(tenantId: string, now = Date.now()): BreakerState[] {
    const out: BreakerState[] = [];
    const prefix = `${tenantId}\u0000`;
    for (const [key, b] of this.#all) {
      if (!key.startsWith(prefix)) continue;
      let requests = 0;
      let failures = 0;
      for (const [, r, f] of b.buckets) {
        requests += r;
        failures += f;
      }
      const state = b.state === 'open' && now >= b.openUntil ? 'half-open' : b.state;
      out.push({
        model: key.slice(prefix.length),
        state,
        requests,
        failures,
        retryAt: b.state === 'open' ? new Date(b.openUntil).toISOString() : null,
      });
    }
    return out.sort((a, b) => a.model.localeCompare(b.model));
  }
}
