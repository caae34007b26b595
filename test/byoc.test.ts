/**
 * st-byoc: a tenant's data in its own PostgreSQL database, whose URL it keeps as a tenant
 * secret. The manifest must name the secret; provisioning waits (Degraded) until the
 * secret holds a reachable URL; migrations run there with the tenant's credentials; the
 * connection descriptor hands that URL back; purge never drops the tenant's database.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { call, expectProblem, manifest, waitForPhase } from './support/http.js';

const EXAMPLE = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));
if (!PG_URL) console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: st-byoc tests are SKIPPED');

describe('bring your own database (st-byoc)', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane('pglite', { env: { TENANCY_APP_MIGRATIONS: EXAMPLE } });
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('refuses st-byoc without a database secret, and byoc on other profiles', async () => {
    const missing = expectProblem(await call(plane, 'POST', '/v1/tenants', manifest('byoc-x', { profile: 'st-byoc' })), 400, 'invalid_manifest');
    expect(missing.errors).toEqual([expect.objectContaining({ path: '/spec/byoc', message: expect.stringContaining('needs byoc.databaseSecret') })]);
    const stray = expectProblem(await call(plane, 'POST', '/v1/tenants', manifest('byoc-y', { byoc: { databaseSecret: 'db-url' } })), 400, 'invalid_manifest');
    expect(stray.errors).toEqual([expect.objectContaining({ path: '/spec/byoc', message: 'applies to profile st-byoc only' })]);
    expect((await call(plane, 'GET', '/v1/tenants/byoc-x')).statusCode).toBe(404);
  });

  it.skipIf(!PG_URL)('provisions into the tenant database once the secret holds a reachable URL, and never drops it', async () => {
    const own = await freshPostgresDatabase();
    try {
      const id = 'byoc-a';
      expect((await call(plane, 'POST', '/v1/tenants', manifest(id, { profile: 'st-byoc', byoc: { databaseSecret: 'db-url' }, config: { retentionDays: 0 } }))).statusCode).toBe(201);
      const degraded = async (text: string) => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const t = (await call(plane, 'GET', `/v1/tenants/${id}`)).json();
          if (t.status.conditions.some((c: any) => c.type === 'Degraded' && c.message.includes(text))) return t;
          if (Date.now() > deadline) throw new Error(JSON.stringify(t.status));
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      expect((await degraded('tenant secret db-url is not set')).status.phase).toBe('provisioning');
      await call(plane, 'PUT', `/v1/tenants/${id}/secrets/db-url`, { value: 'postgres://postgres@127.0.0.1:1/nowhere' });
      plane.controller.enqueue(id);
      expect((await degraded("cannot connect to tenant byoc-a's database")).status.phase).toBe('provisioning');

      await call(plane, 'PUT', `/v1/tenants/${id}/secrets/db-url`, { value: own.url });
      plane.controller.enqueue(id);
      await waitForPhase(plane, id, 'active', 20_000);
      const c = new pg.Client({ connectionString: own.url });
      await c.connect();
      try {
        const tables = (await c.query(`select tablename from pg_tables where schemaname = 'public' order by 1`)).rows.map((r) => r.tablename);
        expect(tables).toEqual(['notes', 'tenancy_schema_migrations']);
        const conn = (await call(plane, 'GET', `/v1/tenants/${id}/connection`)).json();
        expect(conn).toMatchObject({ strategy: 'dedicated', database: { url: own.url, schema: 'public', isolation: expect.stringContaining('st-byoc') } });

        await call(plane, 'DELETE', `/v1/tenants/${id}`);
        await waitForPhase(plane, id, 'deleted', 15_000);
        await plane.controller.idle();
        expect((await c.query(`select count(*)::int as n from pg_tables where tablename = 'notes'`)).rows[0].n).toBe(1);
      } finally {
        await c.end();
      }
    } finally {
      await own.drop();
    }
  }, 60_000);
});
