/**
 * The isolation self-test (`POST /v1/verify/isolation`, `tenancy verify isolation`) reports
 * no failure on the embedded default and on PostgreSQL set up as docs/isolation.md says
 * (a least-privileged control plane; `postgres` and `template1` closed to PUBLIC), and it
 * does fail when the wall is broken: with the store's database reopened to PUBLIC, the CLI
 * names the probe and exits non-zero.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { ADMIN_TOKEN, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { call } from './support/http.js';
import { startWarehousePlane } from './support/warehouse.js';

const EXAMPLE = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));

interface Report {
  ok: boolean;
  engine: string;
  summary: { pass: number; fail: number; warn: number; skip: number };
  probes: Array<{ id: string; area: string; outcome: string; detail?: string }>;
}

const failures = (r: Report) => r.probes.filter((p) => p.outcome === 'fail');

describe('the isolation self-test on the embedded default', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane('pglite');
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('attacks every tenant-scoped route with every role and reports no failure; database probes are in process', async () => {
    const res = await call(plane, 'POST', '/v1/verify/isolation', {});
    expect(res.statusCode, res.body).toBe(200);
    const report = res.json<Report>();
    expect(failures(report)).toEqual([]);
    expect(report).toMatchObject({ ok: true, engine: 'pglite' });
    // Every tenant-scoped route of the API was probed (a route is one probe, all roles in it).
    expect(
      report.probes.filter((p) => p.id.startsWith('api.') && p.id.includes('/v1/tenants/{id}')).length,
    ).toBeGreaterThan(40);
    expect(report.probes.find((p) => p.id === 'db.read')?.outcome).toBe('pass');
    expect(report.probes.find((p) => p.id === 'setup.cleanup')?.outcome).toBe('pass');
    // The probe tenants are gone (purged), the registry as it was.
    const left = (await call(plane, 'GET', '/v1/tenants?includeDeleted=true'))
      .json()
      .items.filter(
        (t: { metadata: { id: string }; status: { purgedAt?: string } }) =>
          t.metadata.id.startsWith('iso-') && !t.status.purgedAt,
      );
    expect(left).toEqual([]);
  }, 180_000);

  it('is for platform admins only, and a dry run makes nothing', async () => {
    const res = await call(plane, 'POST', '/v1/verify/isolation', { dryRun: true });
    expect(res.json()).toMatchObject({ dryRun: true, engine: 'pglite' });
    expect((await call(plane, 'POST', '/v1/verify/isolation', { dryRun: 'yes' })).statusCode).toBe(400);
  });
});

describe.skipIf(!PG_URL)('the isolation self-test on PostgreSQL, least-privileged', () => {
  let ctx: Awaited<ReturnType<typeof startWarehousePlane>>;
  const superuser = async (sql: string) => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    // The documented cluster set-up: tenant roles may connect to their own database only.
    await superuser('revoke connect on database postgres, template1 from public');
    ctx = await startWarehousePlane('postgres', { TENANCY_APP_MIGRATIONS: EXAMPLE }, { listen: true });
  }, 60_000);
  afterAll(async () => {
    await ctx?.close();
  });

  it('reports no failure: API, database, planted functions through migrate, archive, restore and move', async () => {
    const res = await call(ctx.plane, 'POST', '/v1/verify/isolation', {});
    expect(res.statusCode, res.body).toBe(200);
    const report = res.json<Report>();
    expect(failures(report)).toEqual([]);
    expect(report.engine).toBe('postgres');
    for (const id of [
      'db.read',
      'db.set-role',
      'db.connect.store',
      'db.connect.postgres',
      'db.maintenance-login',
      'db.fence',
      'db.planted.migrate',
      'db.planted.archive',
      'db.planted.move',
      'db.connect.dedicated',
    ]) {
      expect(
        report.probes.find((p) => p.id === id),
        id,
      ).toMatchObject({ outcome: 'pass' });
    }
    // Function source in a shared warehouse's catalog: a documented limit, reported as such.
    expect(report.probes.find((p) => p.id === 'db.catalog')?.outcome).toBe('warn');
  }, 300_000);

  it("fails, through the CLI, when the store's database is open to every role again", async () => {
    const store = new URL(ctx.plane.databaseUrl!).pathname.slice(1);
    await superuser(`grant connect on database ${store} to public`);
    try {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(
        ['verify', 'isolation'],
        { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(l) },
        { TENANCY_URL: ctx.plane.url, TENANCY_TOKEN: ADMIN_TOKEN },
      );
      expect(code).not.toBe(0);
      expect(out.find((l) => l.startsWith('FAIL'))).toMatch(
        /FAIL\s+database\s+A cannot connect to the control plane's store database/,
      );
      expect(out.at(-1)).toMatch(/^FAILED: \d+ passed, 1 failed/);
      expect(err).toEqual(['tenancy: isolation self-test: 1 probe(s) failed']);
    } finally {
      await superuser(`revoke connect on database ${store} from public`);
    }
  }, 300_000);
});
