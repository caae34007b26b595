/**
 * The fair queue consumer over the real queue engines (store-backed on PGlite, and on
 * PostgreSQL and NATS JetStream when their URLs are set): a tenant with a deep backlog does
 * not hold up another tenant's few jobs, weights give shares by plan, a failed job is
 * redelivered, and nothing is lost or run twice.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsJobQueue, SqlJobQueue, type JobQueue, type QueueTables } from '../src/infra/queue/index.js';
import { openDatabase } from '../src/infra/sql/index.js';
import { FairQueueConsumer, type FairQueueMessage } from '../src/sdk/index.js';
import { freshPostgresDatabase, PG_URL } from './support/engines.js';

const NATS_URL = process.env.TENANCY_TEST_NATS_URL;
if (!NATS_URL)
  console.warn('[tenancy tests] TENANCY_TEST_NATS_URL is not set: the fair consumer on NATS JetStream is SKIPPED');

async function until(fn: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A handler that finishes a job only once every tenant with jobs left has one waiting for
 * the slot, so which tenant goes next is the scheduler's choice, not a race between fetches.
 */
function judged(
  seeded: Record<string, number>,
  consumer: () => FairQueueConsumer,
  done: string[],
): (m: FairQueueMessage, tenantId: string) => Promise<void> {
  const started: Record<string, number> = Object.fromEntries(Object.keys(seeded).map((t) => [t, 0]));
  return async (m, tenantId) => {
    started[tenantId]!++;
    await until(() => Object.keys(seeded).every((t) => started[t]! >= seeded[t]! || consumer().queued(t) > 0));
    done.push(Buffer.from(m.data).toString());
  };
}

type Factory = () => Promise<{ queue: JobQueue; stop: () => Promise<void> }>;

const ENGINES: Array<[string, Factory]> = [
  [
    'store-backed on PGlite',
    async () => {
      const db = await openDatabase<QueueTables>({ dataDir: undefined });
      return { queue: new SqlJobQueue(db.db), stop: () => db.close() };
    },
  ],
];
if (PG_URL) {
  ENGINES.push([
    'store-backed on PostgreSQL',
    async () => {
      const fresh = await freshPostgresDatabase();
      const db = await openDatabase<QueueTables>({ url: fresh.url });
      return {
        queue: new SqlJobQueue(db.db),
        async stop() {
          await db.close();
          await fresh.drop();
        },
      };
    },
  ]);
} else console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: the fair consumer on PostgreSQL is SKIPPED');
if (NATS_URL)
  ENGINES.push([
    'NATS JetStream',
    async () => {
      const queue = await NatsJobQueue.connect(NATS_URL);
      return { queue, stop: () => queue.close() };
    },
  ]);

describe.each(ENGINES)('fair queue consumer: %s', (_name, factory) => {
  let queue: JobQueue;
  let stop: () => Promise<void>;
  const tag = randomBytes(3).toString('hex');
  const stream = `fair_${tag}`;
  const subject = (tenant: string) => `fair${tag}.${tenant}`;

  beforeAll(async () => {
    ({ queue, stop } = await factory());
    await queue.ensureStream(stream, [`fair${tag}.*`]);
  }, 30_000);
  afterAll(async () => {
    await queue?.removeStream(stream).catch(() => undefined);
    await stop?.();
  });

  async function seed(tenant: string, n: number): Promise<void> {
    await queue.ensureConsumer(stream, tenant, subject(tenant));
    for (let i = 0; i < n; i++) await queue.publish(subject(tenant), Buffer.from(`${tenant}:${i}`));
  }

  it("runs a quiet tenant's jobs between a noisy tenant's backlog, and every job exactly once", async () => {
    await seed('noisy', 60);
    await seed('quiet', 5);
    const done: string[] = [];
    const consumer: FairQueueConsumer = new FairQueueConsumer(queue, {
      concurrency: 1,
      idleMs: 20,
      handler: judged({ noisy: 60, quiet: 5 }, () => consumer, done),
    });
    consumer.setTenants([
      { tenantId: 'noisy', stream, consumer: 'noisy', plan: 'free' },
      { tenantId: 'quiet', stream, consumer: 'quiet', plan: 'free' },
    ]);
    consumer.start();
    await until(() => done.length === 65);
    await consumer.stop();
    const tenants = done.map((d) => d.split(':')[0]);
    // Equal weights alternate while both have work: quiet's five are done within the first dozen, not after noisy's sixty.
    expect(tenants.lastIndexOf('quiet')).toBeLessThan(12);
    expect(new Set(done).size).toBe(65);
    // Each tenant's own jobs keep their order.
    expect(done.filter((d) => d.startsWith('noisy:'))).toEqual(Array.from({ length: 60 }, (_, i) => `noisy:${i}`));
  }, 60_000);

  it('gives a higher plan a larger share, and redelivers a failed job', async () => {
    await seed('small', 30);
    await seed('large', 30);
    const done: string[] = [];
    let failedOnce = false;
    const run = judged({ small: 30, large: 30 }, () => consumer, done);
    const consumer: FairQueueConsumer = new FairQueueConsumer(queue, {
      concurrency: 1,
      idleMs: 20,
      retryDelayMs: 0,
      handler: async (m: FairQueueMessage, tenantId: string) => {
        if (Buffer.from(m.data).toString() === 'small:29' && !failedOnce) {
          failedOnce = true;
          throw new Error('transient');
        }
        await run(m, tenantId);
      },
    });
    consumer.setTenants([
      { tenantId: 'small', stream, consumer: 'small', plan: 'free' },
      { tenantId: 'large', stream, consumer: 'large', plan: 'enterprise' },
    ]);
    consumer.start();
    await until(() => done.length === 60, 40_000);
    await consumer.stop();
    // While both were backlogged, enterprise (weight 8) got most slots over free (weight 1).
    const first18 = done.slice(0, 18).map((d) => d.split(':')[0]);
    expect(first18.filter((t) => t === 'large').length).toBeGreaterThanOrEqual(12);
    expect(failedOnce).toBe(true);
    expect(done).toContain('small:29');
    expect(new Set(done).size).toBe(60);
  }, 60_000);
});
