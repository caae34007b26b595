/**
 * A per-tenant cache of retrieval answers. Each tenant's corpus has a generation; ingest,
 * delete, corpus settings and release decisions bump it, so every cached answer of that
 * corpus is gone at once (and the policy version is part of each key, so a policy change
 * needs no bump). In memory by default (one process: an LRU bounded in entries); in Redis
 * (`TENANCY_RETRIEVAL_CACHE=redis`) under the tenant's own key prefix, shared by replicas,
 * so an ingest on one replica is seen by the next retrieval on any.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';

/** Where retrieval answers are cached. */
export interface RetrievalCache {
  get(tenantId: string, corpus: string, key: string): Promise<unknown>;
  set(tenantId: string, corpus: string, key: string, value: unknown): Promise<void>;
  invalidate(tenantId: string, corpus: string): Promise<void>;
  close(): Promise<void>;
}

const digest = (key: string) => createHash('sha256').update(key).digest('base64url');

/** In-process cache: an LRU of answers, keyed by tenant, corpus generation and query. */
export class MemoryRetrievalCache implements RetrievalCache {
  readonly #generations = new Map<string, number>();
  readonly #entries: LRUCache<string, { value: unknown }>;

  constructor(options: { maxEntries?: number; ttlMs?: number } = {}) {
    this.#entries = new LRUCache({ max: options.maxEntries ?? 10_000, ttl: options.ttlMs ?? 60_000 });
  }

  #key(tenantId: string, corpus: string, key: string): string {
    const scope = `${tenantId}\u0000${corpus}`;
    return `${scope}\u0000${this.#generations.get(scope) ?? 0}\u0000${digest(key)}`;
  }

  get(tenantId: string, corpus: string, key: string): Promise<unknown> {
    return Promise.resolve(this.#entries.get(this.#key(tenantId, corpus, key))?.value);
  }

  set(tenantId: string, corpus: string, key: string, value: unknown): Promise<void> {
    this.#entries.set(this.#key(tenantId, corpus, key), { value });
    return Promise.resolve();
  }

  invalidate(tenantId: string, corpus: string): Promise<void> {
    const scope = `${tenantId}\u0000${corpus}`;
    this.#generations.set(scope, (this.#generations.get(scope) ?? 0) + 1);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#entries.clear();
    return Promise.resolve();
  }
}

const GET_LUA = `
local gen = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', KEYS[1] .. ':' .. gen .. ':' .. ARGV[1])`;
const SET_LUA = `
local gen = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[1] .. ':' .. gen .. ':' .. ARGV[1], ARGV[2], 'PX', ARGV[3])
return 1`;

type CacheClient = Redis & {
  retrievalCacheGet(genKey: string, digest: string): Promise<string | null>;
  retrievalCacheSet(genKey: string, digest: string, value: string, ttlMs: number): Promise<number>;
};

/**
 * Redis cache: under `<prefix>t:{<tenant>}:retrieval:<corpus>`, its generation at that key
 * and answers at `…:<generation>:<digest>`, all in one hash slot (the tenant's tag). Old
 * generations expire with their TTL.
 */
export class RedisRetrievalCache implements RetrievalCache {
  readonly #redis: CacheClient;

  private constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    redis.defineCommand('retrievalCacheGet', { numberOfKeys: 1, lua: GET_LUA });
    redis.defineCommand('retrievalCacheSet', { numberOfKeys: 1, lua: SET_LUA });
    this.#redis = redis as CacheClient;
  }

  /** Connect to Redis at `url`; `close` disconnects. */
  static async connect(url: string, options: { prefix?: string; ttlMs?: number } = {}): Promise<RedisRetrievalCache> {
    const { Redis } = await import('ioredis');
    const redis = new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 2_000 });
    redis.on('error', () => undefined);
    return new RedisRetrievalCache(redis, options.prefix ?? 'tenancy:', options.ttlMs ?? 60_000);
  }

  #genKey(tenantId: string, corpus: string): string {
    return `${this.prefix}t:{${tenantId}}:retrieval:${corpus}`;
  }

  async get(tenantId: string, corpus: string, key: string): Promise<unknown> {
    try {
      const raw = await this.#redis.retrievalCacheGet(this.#genKey(tenantId, corpus), digest(key));
      return raw === null ? undefined : JSON.parse(raw);
    } catch {
      return undefined; // a cache that cannot answer is a miss
    }
  }

  async set(tenantId: string, corpus: string, key: string, value: unknown): Promise<void> {
    try {
      await this.#redis.retrievalCacheSet(
        this.#genKey(tenantId, corpus),
        digest(key),
        JSON.stringify(value),
        this.ttlMs,
      );
    } catch {
      /* not cached this time */
    }
  }

  /** Bump the generation; this one must reach Redis, or a stale answer could be served. */
  async invalidate(tenantId: string, corpus: string): Promise<void> {
    const genKey = this.#genKey(tenantId, corpus);
    await this.#redis
      .multi()
      .incr(genKey)
      .pexpire(genKey, Math.max(this.ttlMs * 10, 86_400_000))
      .exec();
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
