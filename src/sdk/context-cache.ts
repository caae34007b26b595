/**
 * Tenant contexts, cached per tenant and dropped when the event feed reports a change to
 * that tenant. An entry is trusted only while the feed is current: if events stop
 * arriving, every request reads the context again rather than serve a suspended tenant.
 */
import { TenancyError } from '../errors.js';
import type { EventFeed } from './event-feed.js';
import type { TenancyClient } from './tenancy-client.js';
import type { TenantContext } from './types.js';

/** Options for {@link TenantContextCache}. */
export interface ContextCacheOptions {
  /** Upper bound on an entry's age even while the feed is current (default 60 s). */
  ttlMs?: number;
  /** Entries kept; the least recently used go first (default 10,000). */
  maxEntries?: number;
}

/** Cache of tenant contexts. */
export class TenantContextCache {
  readonly #entries = new Map<string, { context: TenantContext; until: number }>();
  readonly #inflight = new Map<string, Promise<TenantContext>>();
  /** Invalidations per tenant: a read that started before one must not be cached. */
  readonly #epochs = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(
    private readonly client: TenancyClient,
    private readonly feed: EventFeed,
    options: ContextCacheOptions = {},
  ) {
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  /** The tenant's context, from the cache when it can be trusted. */
  async get(tenantId: string): Promise<TenantContext> {
    const hit = this.#entries.get(tenantId);
    if (hit && hit.until > Date.now() && this.feed.healthy()) {
      // Map order is insertion order: re-inserting keeps the LRU at the front.
      this.#entries.delete(tenantId);
      this.#entries.set(tenantId, hit);
      return hit.context;
    }
    let pending = this.#inflight.get(tenantId);
    if (!pending) {
      pending = this.#load(tenantId).finally(() => {
        if (this.#inflight.get(tenantId) === pending) this.#inflight.delete(tenantId);
      });
      this.#inflight.set(tenantId, pending);
    }
    return pending;
  }

  /** The tenant's context when the cache holds a trusted one, without waiting; else undefined. */
  peek(tenantId: string): TenantContext | undefined {
    const hit = this.#entries.get(tenantId);
    if (!hit || hit.until <= Date.now() || !this.feed.healthy()) return undefined;
    this.#entries.delete(tenantId);
    this.#entries.set(tenantId, hit);
    return hit.context;
  }

  /** Forget a tenant's context (an event named it). */
  invalidate(tenantId: string): void {
    this.#entries.delete(tenantId);
    this.#inflight.delete(tenantId);
    this.#epochs.set(tenantId, (this.#epochs.get(tenantId) ?? 0) + 1);
  }

  /** Forget everything (the feed lost events). */
  clear(): void {
    for (const id of [...this.#entries.keys(), ...this.#inflight.keys()]) this.invalidate(id);
  }

  get size(): number {
    return this.#entries.size;
  }

  async #load(tenantId: string): Promise<TenantContext> {
    const epoch = this.#epochs.get(tenantId) ?? 0;
    let context: TenantContext;
    try {
      context = await this.client.context(tenantId);
    } catch (error) {
      // The app's own credential was refused: a deployment fault, not the caller's.
      if (error instanceof TenancyError && (error.status === 401 || error.status === 403)) {
        throw new TenancyError('control_plane_error', "the control plane refused the app's credential", {
          cause: error,
        });
      }
      throw error;
    }
    if ((this.#epochs.get(tenantId) ?? 0) === epoch) {
      if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
      this.#entries.set(tenantId, { context, until: Date.now() + this.#ttlMs });
    }
    return context;
  }
}
