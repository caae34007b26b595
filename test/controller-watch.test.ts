/**
 * The controller watches registry changes through the published outbox: with two control
 * planes on one PostgreSQL and NATS JetStream, a tenant created on a replica whose own
 * controller is stopped is provisioned by the other one at once, long before its resync.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startControlPlane, type ControlPlane } from '../src/control-plane.js';
import { ADMIN_TOKEN, freshPostgresDatabase, PG_URL } from './support/engines.js';

const NATS_URL = process.env.TENANCY_TEST_NATS_URL;
if (!PG_URL || !NATS_URL) console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL and TENANCY_TEST_NATS_URL are both needed: the cross-replica controller test is SKIPPED');

describe.skipIf(!PG_URL || !NATS_URL)('controller watching the outbox across replicas', () => {
  it('reconciles a change made on another replica without waiting for the resync', async () => {
    const database = await freshPostgresDatabase();
    const dirs = [await mkdtemp(join(tmpdir(), 'tenancy-w1-')), await mkdtemp(join(tmpdir(), 'tenancy-w2-'))];
    const env = { TENANCY_ADMIN_TOKEN: ADMIN_TOKEN, TENANCY_LOG_LEVEL: 'silent', TENANCY_DATABASE_URL: database.url, TENANCY_NATS_URL: NATS_URL!, TENANCY_ROOT_KEY: randomBytes(32).toString('base64') };
    const planes: ControlPlane[] = [];
    try {
      for (const dir of dirs) planes.push(await startControlPlane(loadConfig({ port: '0', dataDir: dir }, env), { listen: false, controllerResyncMs: 600_000, relayPollIntervalMs: 50 }));
      const [watcher, writer] = planes as [ControlPlane, ControlPlane];
      await writer.controller.stop();
      const id = `watch-${randomBytes(3).toString('hex')}`;
      const res = await writer.app.inject({ method: 'POST', url: '/v1/tenants', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { apiVersion: 'tenancy/v1', kind: 'Tenant', metadata: { id }, spec: { name: id, plan: 'pro' } } });
      expect(res.statusCode).toBe(201);
      const deadline = Date.now() + 15_000;
      let phase = '';
      while (Date.now() < deadline) {
        phase = (await watcher.database.db.selectFrom('tenants').select('phase').where('id', '=', id).executeTakeFirstOrThrow()).phase;
        if (phase === 'active') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(phase).toBe('active');
    } finally {
      for (const p of planes) await p.close().catch(() => undefined);
      await database.drop();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    }
  }, 60_000);
});
