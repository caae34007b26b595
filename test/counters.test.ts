/**
 * The counters port in memory and on Redis (TENANCY_TEST_REDIS_URL; skipped with a message
 * when absent), and what each engine adds to the contract.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MemoryCounters, RedisCounters, connectCounters } from '../src/sdk/counters/index.js';
import { runCountersSuite } from './support/counters-suite.js';

const REDIS_URL = process.env.TENANCY_TEST_REDIS_URL;

/**
 * Redis counters once the connection is up: connecting does not wait for it (an app starts
 * while Redis is away, and its failure mode applies meanwhile), so a test waits here.
 */
async function connected(keyPrefix: string): Promise<RedisCounters> {
  const counters = await RedisCounters.connect(REDIS_URL!, { keyPrefix });
  const probe = counters.fixedWindow('ready', 1);
  for (let i = 0; (await probe('probe')) === undefined; i++) {
    if (i > 100) throw new Error(`Redis at ${REDIS_URL} does not answer`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return counters;
}

runCountersSuite('in memory', async () => {
  const counters = new MemoryCounters();
  return { counters, stop: () => counters.close() };
});

if (REDIS_URL) {
  runCountersSuite('Redis', async () => {
    const counters = await connected(`tenancy:test:${randomBytes(4).toString('hex')}`);
    return { counters, stop: () => counters.close() };
  });
} else {
  describe.skip('counters: Redis', () => {
    it('needs TENANCY_TEST_REDIS_URL', () => undefined);
  });
  console.warn('[tenancy tests] TENANCY_TEST_REDIS_URL is not set: Redis counters suites are SKIPPED');
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('counters configuration', () => {
  it('picks the engine from the URL', async () => {
    const memory = await connectCounters({});
    expect(memory.engine).toBe('memory');
    await memory.close();
    const redis = await connectCounters({ redisUrl: `redis://127.0.0.1:${await closedPort()}` });
    expect(redis.engine).toBe('redis');
    await redis.close();
  });

  it('answers in memory at once, without a promise', () => {
    const count = new MemoryCounters().fixedWindow('sync', 60)('tenant-a');
    expect(count).not.toBeInstanceOf(Promise);
    expect(count).toMatchObject({ consumedPoints: 1 });
  });

  it('answers undefined, not a rejection, when Redis cannot be reached', async () => {
    const counters = await RedisCounters.connect(`redis://127.0.0.1:${await closedPort()}`);
    try {
      await expect(counters.fixedWindow('down', 60)('tenant-a')).resolves.toBeUndefined();
    } finally {
      await counters.close();
    }
  });

  it.runIf(REDIS_URL)('shares counts between two connections with the same key prefix', async () => {
    const keyPrefix = `tenancy:test:${randomBytes(4).toString('hex')}`;
    const a = await connected(keyPrefix);
    const b = await connected(keyPrefix);
    try {
      expect(await a.fixedWindow('tenant', 60)('acme')).toMatchObject({ consumedPoints: 1 });
      expect(await b.fixedWindow('tenant', 60)('acme')).toMatchObject({ consumedPoints: 2 });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
