/**
 * The queue port on the store-backed engine (PGlite, and PostgreSQL when configured) and
 * on NATS JetStream (TENANCY_TEST_NATS_URL; skipped with a message when absent).
 */
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/infra/sql/index.js';
import { NatsJobQueue, SqlJobQueue, filterRegex, subjectMatches, type QueueTables } from '../src/infra/queue/index.js';
import { freshPostgresDatabase, PG_URL } from './support/engines.js';
import { runJobQueueSuite } from './support/job-queue-suite.js';

const NATS_URL = process.env.TENANCY_TEST_NATS_URL;

runJobQueueSuite('store-backed on PGlite', async () => {
  const db = await openDatabase<QueueTables>({ dataDir: undefined });
  return { queue: new SqlJobQueue(db.db), stop: () => db.close() };
});

if (PG_URL) {
  runJobQueueSuite('store-backed on PostgreSQL', async () => {
    const fresh = await freshPostgresDatabase();
    const db = await openDatabase<QueueTables>({ url: fresh.url });
    return {
      queue: new SqlJobQueue(db.db),
      async stop() {
        await db.close();
        await fresh.drop();
      },
    };
  });
}

if (NATS_URL) {
  runJobQueueSuite('NATS JetStream', async () => {
    const queue = await NatsJobQueue.connect(NATS_URL);
    return { queue, stop: () => queue.close() };
  });
} else {
  describe.skip('job queue: NATS JetStream', () => {
    it('needs TENANCY_TEST_NATS_URL', () => undefined);
  });
  console.warn('[tenancy tests] TENANCY_TEST_NATS_URL is not set: NATS JetStream suites are SKIPPED');
}

describe('subjects', () => {
  it('match like NATS, and the SQL filter agrees', () => {
    const cases: Array<[string, string, boolean]> = [
      ['jobs.*', 'jobs.acme', true],
      ['jobs.*', 'jobs.acme.x', false],
      ['jobs.>', 'jobs.acme.x', true],
      ['jobs.>', 'jobs', false],
      ['jobs.acme', 'jobs.acme', true],
      ['jobs.acme', 'jobs.acmex', false],
      ['*.x', 'a.x', true],
    ];
    for (const [p, s, want] of cases) {
      expect(subjectMatches(p, s), `${p} ~ ${s}`).toBe(want);
      expect(new RegExp(filterRegex(p)).test(s), `regex ${p} ~ ${s}`).toBe(want);
    }
  });

  it('reports an unreachable NATS server as a clear error', async () => {
    await expect(NatsJobQueue.connect('nats://127.0.0.1:9')).rejects.toMatchObject({ code: 'queue_unavailable' });
  });
});
