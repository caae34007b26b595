/**
 * The controller watches registry changes through the published outbox: with two control
 * planes on one PostgreSQL (store and warehouse) and NATS JetStream, a tenant created on a
 * replica whose own controller is stopped is provisioned by the other one at once, long
 * before its resync. And a reconcile that read the tenant before a verb committed (which a
 * watch makes common: a change from elsewhere can land at any moment) never marks that verb
 * done without doing it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startControlPlane, type ControlPlane } from '../src/control-plane.js';
import { isolationContext } from '../src/isolation/index.js';
import { ADMIN_TOKEN, freshPostgresDatabase, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, waitForPhase } from './support/http.js';
import { dropPrefixed } from './support/warehouse.js';

const NATS_URL = process.env.TENANCY_TEST_NATS_URL;
if (!PG_URL || !NATS_URL)
  console.warn(
    '[tenancy tests] TENANCY_TEST_DATABASE_URL and TENANCY_TEST_NATS_URL are both needed: the cross-replica controller test is SKIPPED',
  );

describe.skipIf(!PG_URL || !NATS_URL)('controller watching the outbox across replicas', () => {
  it('reconciles a change made on another replica without waiting for the resync', async () => {
    const database = await freshPostgresDatabase();
    const warehouse = await freshPostgresDatabase();
    const prefix = `w${randomBytes(3).toString('hex')}_`;
    const dirs = [await mkdtemp(join(tmpdir(), 'tenancy-w1-')), await mkdtemp(join(tmpdir(), 'tenancy-w2-'))];
    const env = {
      TENANCY_ADMIN_TOKEN: ADMIN_TOKEN,
      TENANCY_LOG_LEVEL: 'silent',
      TENANCY_DATABASE_URL: database.url,
      TENANCY_WAREHOUSE_URL: warehouse.url,
      TENANCY_WAREHOUSE_ROLE_PREFIX: prefix,
      TENANCY_NATS_URL: NATS_URL!,
      TENANCY_ROOT_KEY: randomBytes(32).toString('base64'),
    };
    const planes: ControlPlane[] = [];
    try {
      for (const dir of dirs)
        planes.push(
          await startControlPlane(loadConfig({ port: '0', dataDir: dir }, env), {
            listen: false,
            controllerResyncMs: 600_000,
            relayPollIntervalMs: 50,
          }),
        );
      const [watcher, writer] = planes as [ControlPlane, ControlPlane];
      await writer.controller.stop();
      const id = `watch-${randomBytes(3).toString('hex')}`;
      const res = await writer.app.inject({
        method: 'POST',
        url: '/v1/tenants',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        payload: { apiVersion: 'tenancy/v1', kind: 'Tenant', metadata: { id }, spec: { name: id, plan: 'pro' } },
      });
      expect(res.statusCode).toBe(201);
      // The resync is 10 minutes away: only the watch can bring this tenant up in time.
      const deadline = Date.now() + 45_000;
      let phase = '';
      while (Date.now() < deadline) {
        phase = (
          await watcher.database.db.selectFrom('tenants').select('phase').where('id', '=', id).executeTakeFirstOrThrow()
        ).phase;
        if (phase === 'active') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(phase).toBe('active');
      // And a suspend on the writer is carried out by the watcher too.
      const suspended = await writer.app.inject({
        method: 'POST',
        url: `/v1/tenants/${id}/suspend`,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        payload: { reason: 'billing hold' },
      });
      expect(suspended.statusCode, suspended.body).toBe(200);
      // Its database role may no longer log in: the watcher's controller did that, not the writer's.
      const role = `${prefix}t_${id.replace(/-/g, '_')}`;
      const until = Date.now() + 45_000;
      let canLogin: boolean | undefined;
      while (Date.now() < until) {
        const { rows } = await sql<{
          rolcanlogin: boolean;
        }>`select rolcanlogin from pg_roles where rolname = ${role}`.execute(watcher.database.db);
        canLogin = rows[0]?.rolcanlogin;
        if (canLogin === false) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(canLogin).toBe(false);
    } finally {
      for (const p of planes) await p.close().catch(() => undefined);
      await dropPrefixed(prefix);
      await warehouse.drop();
      await database.drop();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('verbs and updates racing the controller', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane('pglite');
  }, 60_000);
  afterAll(async () => {
    await plane?.stop();
  });

  it('a verb committed while a reconcile is in its resource steps is carried out, not marked done on the strength of steps taken for the old phase', async () => {
    const id = 'race-archive';
    await createActive(plane, id);
    const resources = plane.resources;
    const original = resources.setActive.bind(resources);
    let entered!: () => void;
    let release!: () => void;
    const inSteps = new Promise<void>((r) => (entered = r));
    const gate = new Promise<void>((r) => (release = r));
    // Hold the next reconcile of the active tenant inside its resource steps.
    resources.setActive = async (ctx, active) => {
      if (active && ctx.tenantId === id) {
        entered();
        await gate;
      }
      return original(ctx, active);
    };
    try {
      // An update: the controller takes it up and, in its resource steps, is held at the gate.
      expect((await call(plane, 'PATCH', `/v1/tenants/${id}`, { spec: { name: 'renamed' } })).statusCode).toBe(200);
      await inSteps;
      expect((await call(plane, 'POST', `/v1/tenants/${id}/archive`, {})).statusCode).toBe(200);
      release();
      await waitForPhase(plane, id, 'archived', 30_000);
    } finally {
      resources.setActive = original;
      release();
    }
    const archives = await plane.database.db
      .selectFrom('tenant_archives')
      .select(['state'])
      .where('tenant_id', '=', id)
      .execute();
    expect(archives).toEqual([{ state: 'complete' }]);
    // The live database went to cold storage.
    expect(
      (await plane.resources.databases.observe(isolationContext(id, (await plane.registry.get(id)).spec))).exists,
    ).toBe(false);
  }, 60_000);

  it('a profile change that an archive overtook is carried out once the tenant is restored onto its old place', async () => {
    const id = 'overtaken-move';
    await createActive(plane, id);
    // The move and the archive are both asked for before the controller takes up either.
    await plane.controller.stop();
    expect((await call(plane, 'PATCH', `/v1/tenants/${id}`, { spec: { profile: 'st-dedicated' } })).statusCode).toBe(
      200,
    );
    expect((await call(plane, 'POST', `/v1/tenants/${id}/archive`, {})).statusCode).toBe(200);
    plane.controller.start();
    await waitForPhase(plane, id, 'archived', 30_000);
    expect((await plane.registry.get(id)).status.placement?.profile).toBe('mt-standard');
    expect((await call(plane, 'POST', `/v1/tenants/${id}/restore`, {})).statusCode).toBe(200);
    await waitForPhase(plane, id, 'active', 30_000);
    // Restored where it was archived from, it then moves to the place its spec names.
    const deadline = Date.now() + 30_000;
    let placement = (await plane.registry.get(id)).status.placement;
    while (placement?.profile !== 'st-dedicated' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      placement = (await plane.registry.get(id)).status.placement;
    }
    expect(placement?.profile).toBe('st-dedicated');
    const ctx = isolationContext(id, (await plane.registry.get(id)).spec, 'st-dedicated');
    expect((await plane.resources.databases.observe(ctx)).exists).toBe(true);
    expect(
      (
        await plane.resources.databases.observe(
          isolationContext(id, (await plane.registry.get(id)).spec, 'mt-standard'),
        )
      ).exists,
    ).toBe(false);
  }, 90_000);
});
