/**
 * The retrieval answer cache, in memory and in Redis (TENANCY_TEST_REDIS_URL; skipped with a
 * message without it): answers per tenant and corpus, a generation bump dropping every
 * answer of one corpus and no other, and Redis keys under the tenant's own prefix.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryRetrievalCache, RedisRetrievalCache, type RetrievalCache } from '../src/retrieval/index.js';

const REDIS_URL = process.env.TENANCY_TEST_REDIS_URL;
const prefix = `tenancy-test-${randomUUID().slice(0, 8)}:`;

const kinds: Array<[string, () => Promise<RetrievalCache>]> = [
  ['memory', async () => new MemoryRetrievalCache({ ttlMs: 60_000 })],
];
if (REDIS_URL) kinds.push(['redis', () => RedisRetrievalCache.connect(REDIS_URL, { prefix, ttlMs: 60_000 })]);
else {
  describe.skip('retrieval cache in redis', () => {
    it('needs TENANCY_TEST_REDIS_URL', () => undefined);
  });
  console.warn('[tenancy tests] TENANCY_TEST_REDIS_URL is not set: the Redis retrieval cache suite is SKIPPED');
}

describe.each(kinds)('retrieval cache in %s', (kind, open) => {
  const opened: RetrievalCache[] = [];
  afterAll(async () => {
    for (const c of opened) await c.close();
  });

  it('keeps answers per tenant and corpus and drops one corpus at a time', async () => {
    const cache = await open();
    opened.push(cache);
    await cache.set('t-a', 'docs', 'q', { items: ['a'] });
    await cache.set('t-b', 'docs', 'q', { items: ['b'] });
    await cache.set('t-a', 'faq', 'q', { items: ['a-faq'] });
    expect(await cache.get('t-a', 'docs', 'q')).toEqual({ items: ['a'] });
    expect(await cache.get('t-b', 'docs', 'q')).toEqual({ items: ['b'] });
    expect(await cache.get('t-a', 'docs', 'other')).toBeUndefined();

    await cache.invalidate('t-a', 'docs');
    expect(await cache.get('t-a', 'docs', 'q')).toBeUndefined();
    expect(await cache.get('t-b', 'docs', 'q')).toEqual({ items: ['b'] });
    expect(await cache.get('t-a', 'faq', 'q')).toEqual({ items: ['a-faq'] });
    await cache.set('t-a', 'docs', 'q', { items: ['a2'] });
    expect(await cache.get('t-a', 'docs', 'q')).toEqual({ items: ['a2'] });

    if (kind === 'redis') {
      // A second replica sees the first one's answers and invalidations.
      const other = await open();
      opened.push(other);
      expect(await other.get('t-a', 'docs', 'q')).toEqual({ items: ['a2'] });
      await other.invalidate('t-a', 'docs');
      expect(await cache.get('t-a', 'docs', 'q')).toBeUndefined();
      // Every key is under the tenant's own tag.
      const redis = new Redis(REDIS_URL!);
      try {
        const keys = await redis.keys(`${prefix}*`);
        expect(keys.length).toBeGreaterThan(0);
        for (const k of keys) expect(k).toMatch(new RegExp(`^${prefix}t:\\{t-[ab]\\}:retrieval:`));
        await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    }
  });
});
