/**
 * The budget ledger on PGlite (in memory), on PostgreSQL (TENANCY_TEST_DATABASE_URL) and on
 * Redis (TENANCY_TEST_REDIS_URL), each skipped with a message when its URL is absent; and on
 * PostgreSQL what the engine adds: two pools racing on one database, and a runtime role that
 * owns nothing running the ledger's functions with the grants the owner gave it.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { windowKeys } from '../src/ai/budget-ledger.js';
import { RedisBudgetLedger } from '../src/ai/budget-ledger-redis.js';
import { SqlBudgetLedger } from '../src/ai/budget-ledger-sql.js';
import { openDatabase, type DatabaseTarget } from '../src/infra/sql/index.js';
import type { Schema } from '../src/schema.js';
import { runBudgetLedgerSuite } from './support/budget-ledger-suite.js';
import { freshPostgresDatabase, PG_URL, withClient } from './support/engines.js';

const REDIS_URL = process.env.TENANCY_TEST_REDIS_URL;

/** A ledger over its own store handle, closing the handle with it. */
async function sqlLedger(target: DatabaseTarget): Promise<SqlBudgetLedger> {
  const store = await openDatabase<Schema>(target);
  return Object.assign(new SqlBudgetLedger(store.db), { close: () => store.close() });
}

runBudgetLedgerSuite('PGlite', async () => ({
  ledger: await sqlLedger({ dataDir: undefined }),
  stop: async () => undefined,
}));

if (PG_URL) {
  runBudgetLedgerSuite('PostgreSQL', async () => {
    const fresh = await freshPostgresDatabase();
    return {
      ledger: await sqlLedger({ url: fresh.url }),
      // A second pool of its own, as another replica would have.
      another: () => sqlLedger({ url: fresh.url }),
      stop: () => fresh.drop(),
    };
  });
} else {
  describe.skip('budget ledger: PostgreSQL', () => {
    it('needs TENANCY_TEST_DATABASE_URL', () => undefined);
  });
  console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: PostgreSQL budget ledger suites are SKIPPED');
}

if (REDIS_URL) {
  runBudgetLedgerSuite('Redis', async () => {
    const keyPrefix = `tenancy:test:${randomBytes(4).toString('hex')}:`;
    return {
      ledger: await RedisBudgetLedger.connect(REDIS_URL, { keyPrefix }),
      another: () => RedisBudgetLedger.connect(REDIS_URL, { keyPrefix }),
      stop: async () => undefined,
    };
  });
} else {
  describe.skip('budget ledger: Redis', () => {
    it('needs TENANCY_TEST_REDIS_URL', () => undefined);
  });
  console.warn('[tenancy tests] TENANCY_TEST_REDIS_URL is not set: Redis budget ledger suites are SKIPPED');
}

describe('budget windows', () => {
  it('are the UTC day and month, whatever the local time zone says', () => {
    expect(windowKeys(new Date('2031-02-28T23:30:00-05:00'))).toEqual({
      day: 'day:2031-03-01',
      month: 'month:2031-03',
      dayResetsAt: new Date('2031-03-02T00:00:00Z'),
      monthResetsAt: new Date('2031-04-01T00:00:00Z'),
    });
    expect(windowKeys(new Date('2032-02-29T00:00:00Z'))).toMatchObject({
      day: 'day:2032-02-29',
      dayResetsAt: new Date('2032-03-01T00:00:00Z'),
    });
  });
});

describe.runIf(REDIS_URL)('budget ledger on Redis', () => {
  it("puts a tenant's keys in one hash slot, under the key prefix, with a TTL, beside the client's own prefix", async () => {
    const tag = randomBytes(4).toString('hex');
    const client = new Redis(REDIS_URL!, { keyPrefix: `app-${tag}:` });
    const ledger = new RedisBudgetLedger(client, { keyPrefix: `ledger-${tag}:` });
    try {
      const now = new Date('2031-03-15T12:00:00Z');
      await ledger.reserve('acme', { dailyMicros: 10 }, 10, { now, ttlMs: 1_000 });
      const keys = (await client.keys(`app-${tag}:ledger-${tag}:*`)).sort();
      expect(keys).toEqual([
        `app-${tag}:ledger-${tag}:ai:budget:{acme}:res:expiry`,
        `app-${tag}:ledger-${tag}:ai:budget:{acme}:res:records`,
        `app-${tag}:ledger-${tag}:ai:budget:{acme}:win:day:2031-03-15`,
        `app-${tag}:ledger-${tag}:ai:budget:{acme}:win:month:2031-03`,
      ]);
      const plain = new Redis(REDIS_URL!);
      try {
        for (const key of keys) expect(await plain.ttl(key), key).toBeGreaterThan(2 * 86_400);
      } finally {
        plain.disconnect();
      }
      // The sweep finds the expired hold's windows through the client's prefix too.
      const later = new Date(now.getTime() + 2_000);
      expect((await ledger.reserve('acme', { dailyMicros: 10 }, 10, { now: later })).ok).toBe(true);
    } finally {
      await ledger.close();
      client.disconnect();
    }
  });
});

describe.runIf(PG_URL)('budget ledger on PostgreSQL with a separate owner role', () => {
  it('runs reserve and settle as the runtime role, which owns nothing', async () => {
    const tag = randomBytes(4).toString('hex');
    const [owner, runtime, database] = [`tenancy_owner_${tag}`, `tenancy_runtime_${tag}`, `tenancy_t_ledger_${tag}`];
    const urlAs = (role: string) => {
      const u = new URL(PG_URL!);
      u.username = role;
      u.password = '';
      u.pathname = `/${database}`;
      return u.toString();
    };
    await withClient(PG_URL!, async (c) => {
      await c.query(`create role ${owner} login nosuperuser nocreatedb nocreaterole`);
      await c.query(`create role ${runtime} login nosuperuser nocreatedb nocreaterole`);
      await c.query(`create database ${database} owner ${owner}`);
    });
    try {
      // PUBLIC's right to run new functions is gone: the owner's grant is what lets the runtime role in.
      await withClient(urlAs(owner), (c) =>
        c.query('alter default privileges revoke execute on functions from public'),
      );
      const ledger = await sqlLedger({ url: urlAs(runtime), ownerUrl: urlAs(owner) });
      try {
        const result = await ledger.reserve('acme', { dailyMicros: 100 }, 60);
        expect(result.ok).toBe(true);
        if (result.ok) await ledger.settle(result.reservation, 40);
        expect((await ledger.status('acme', { dailyMicros: 100 })).map((w) => w.spentMicros)).toEqual([40, 40]);
      } finally {
        await ledger.close();
      }
      const functionOwner = await withClient(urlAs(owner), async (c) => {
        const { rows } = await c.query(
          `select pg_get_userbyid(proowner) as owner from pg_proc where proname = 'ai_budget_reserve'`,
        );
        return rows[0]?.owner;
      });
      expect(functionOwner).toBe(owner);
    } finally {
      await withClient(PG_URL!, async (c) => {
        await c.query(`drop database if exists ${database} with (force)`);
        await c.query(`drop role if exists ${runtime}`);
        await c.query(`drop role if exists ${owner}`);
      });
    }
  });
});
