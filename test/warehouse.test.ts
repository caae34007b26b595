/**
 * Tenant databases made real end to end on PostgreSQL (TENANCY_WAREHOUSE_URL): provisioning
 * creates the tenant's schema or database and role, the connection descriptor hands out a
 * URL with the tenant's own credentials, suspend stops its logins, and purge removes it all.
 */
import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { isolationContext } from '../src/isolation/index.js';
import { call, createActive, expectProblem, waitForPhase } from './support/http.js';

if (!PG_URL) console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: warehouse tests are SKIPPED');

describe.skipIf(!PG_URL)('tenant databases through the control plane (PostgreSQL warehouse)', () => {
  let plane: TestPlane;
  let warehouse: { url: string; drop: () => Promise<void> };
  const prefix = `w${randomBytes(3).toString('hex')}_`;
  const clients: Kysely<unknown>[] = [];
  const connect = (url: string) => {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('error', () => undefined);
    const k = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    clients.push(k);
    return k;
  };
  const connection = async (id: string) => (await call(plane, 'GET', `/v1/tenants/${id}/connection`)).json();

  beforeAll(async () => {
    warehouse = await freshPostgresDatabase();
    plane = await startTestPlane('pglite', {
      env: { TENANCY_WAREHOUSE_URL: warehouse.url, TENANCY_WAREHOUSE_ROLE_PREFIX: prefix },
    });
    await createActive(plane, 'wh-a', { config: { retentionDays: 0 } });
    await createActive(plane, 'wh-b', { config: { retentionDays: 0 } });
    await createActive(plane, 'wh-d', { profile: 'st-dedicated', config: { retentionDays: 0 } });
  });
  afterAll(async () => {
    for (const c of clients) await c.destroy().catch(() => undefined);
    for (const id of ['wh-a', 'wh-b', 'wh-d']) {
      await call(plane, 'DELETE', `/v1/tenants/${id}`).catch(() => undefined);
    }
    await plane?.controller.idle();
    await plane?.stop();
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const left = await admin.query(`select rolname from pg_roles where rolname like '${prefix}%'`);
    for (const r of left.rows) await admin.query(`drop owned by "${r.rolname}" cascade`).catch(() => undefined);
    for (const r of left.rows) await admin.query(`drop role if exists "${r.rolname}"`).catch(() => undefined);
    await admin.end();
    await warehouse?.drop();
  });

  it('hands out a connection with the tenant role, which works in its own schema', async () => {
    const c = await connection('wh-a');
    expect(c).toMatchObject({
      tenantId: 'wh-a',
      strategy: 'shared',
      database: { role: `${prefix}t_wh_a`, schema: `${prefix}t_wh_a`, isolation: 'database-enforced' },
      objects: { prefix: 'tenants/wh-a/' },
    });
    const a = connect(c.database.url);
    await sql`create table notes (body text)`.execute(a);
    await sql`insert into notes values ('a')`.execute(a);
    expect((await sql<{ body: string }>`select body from notes`.execute(a)).rows).toEqual([{ body: 'a' }]);
    const stored = await plane.database.db
      .selectFrom('tenant_credentials')
      .select('ciphertext')
      .where('tenant_id', '=', 'wh-a')
      .executeTakeFirstOrThrow();
    expect(stored.ciphertext).toMatch(/^tnc:v1:/);
    expect(stored.ciphertext).not.toContain(new URL(c.database.url).password);
    const audit = (await call(plane, 'GET', '/v1/audit?tenant=wh-a&action=tenant.connection.read')).json().items;
    expect(audit.length).toBeGreaterThan(0);
    expect(JSON.stringify(audit)).not.toContain(new URL(c.database.url).password);
  });

  it("keeps tenant B's credentials out of tenant A's schema", async () => {
    const b = connect((await connection('wh-b')).database.url);
    await expect(sql`select * from ${sql.id(`${prefix}t_wh_a`)}.notes`.execute(b)).rejects.toMatchObject({
      code: '42501',
    });
  });

  it('gives a dedicated tenant its own database', async () => {
    const c = await connection('wh-d');
    expect(c.database).toMatchObject({ database: `${prefix}warehouse_wh_d`, schema: 'public' });
    const d = connect(c.database.url);
    await sql`create table t (x int)`.execute(d);
    const b = new URL((await connection('wh-b')).database.url);
    b.pathname = `/${prefix}warehouse_wh_d`;
    await expect(sql`select 1`.execute(connect(b.toString()))).rejects.toMatchObject({ code: '42501' });
  });

  it('stops logins while suspended and restores them on resume', async () => {
    const url = (await connection('wh-a')).database.url;
    await call(plane, 'POST', '/v1/tenants/wh-a/suspend', { reason: 'audit' });
    await plane.controller.idle();
    await expect(sql`select 1`.execute(connect(url))).rejects.toMatchObject({ code: '28000' });
    expectProblem(await call(plane, 'GET', '/v1/tenants/wh-a/connection'), 409, 'tenant_suspended');
    await call(plane, 'POST', '/v1/tenants/wh-a/resume', {});
    await plane.controller.idle();
    expect((await sql<{ one: number }>`select 1 as one`.execute(connect(url))).rows).toEqual([{ one: 1 }]);
  });

  it('stops logins of a deleted tenant while its data is kept for the retention period', async () => {
    await createActive(plane, 'wh-kept', { config: { retentionDays: 7 } });
    const url = (await connection('wh-kept')).database.url;
    expect((await sql<{ one: number }>`select 1 as one`.execute(connect(url))).rows).toEqual([{ one: 1 }]);
    await call(plane, 'DELETE', '/v1/tenants/wh-kept');
    await waitForPhase(plane, 'wh-kept', 'deleted');
    await plane.controller.idle();
    await expect(sql`select 1`.execute(connect(url))).rejects.toMatchObject({ code: '28000' });
    // The data is still there (kept, not purged): only the platform can reach it.
    const admin = connect(warehouse.url);
    const schemas = await sql<{
      n: number;
    }>`select count(*)::int as n from information_schema.schemata where schema_name = ${`${prefix}t_wh_kept`}`.execute(
      admin,
    );
    expect(schemas.rows).toEqual([{ n: 1 }]);
  });

  it('keeps only a handful of tenant sessions open however many tenants it works on', async () => {
    // Each tenant session is a server connection logged in as the tenant's maintenance role;
    // kept idle per place for reuse, they once piled up to max_connections in a migration
    // across hundreds of tenants.
    const ids = Array.from({ length: 12 }, (_, i) => `wh-many-${i}`);
    for (const id of ids) await createActive(plane, id, { config: { retentionDays: 0 } });
    const db = plane.resources.databases;
    for (const id of ids) {
      const ctx = isolationContext(id, {
        plan: 'pro',
        profile: 'mt-standard',
        region: 'default',
        quotas: undefined,
        byoc: undefined,
      });
      expect(await db.withTenant(ctx, (s) => s.query<{ n: number }>('select 1 as n'))).toEqual([{ n: 1 }]);
    }
    const admin = connect(warehouse.url);
    const open = await sql<{
      n: number;
    }>`select count(*)::int as n from pg_stat_activity where usename like ${`${prefix.replace(/_/g, '\\_')}m\\_%`}`.execute(
      admin,
    );
    expect(open.rows[0]!.n).toBeLessThanOrEqual(4);
    for (const id of ids) await call(plane, 'DELETE', `/v1/tenants/${id}`);
  });

  it('removes schema, database, roles and credentials on purge', async () => {
    for (const id of ['wh-a', 'wh-d']) {
      await call(plane, 'DELETE', `/v1/tenants/${id}`);
      await waitForPhase(plane, id, 'deleted');
    }
    await plane.controller.idle();
    const admin = connect(warehouse.url);
    const roles = await sql<{
      rolname: string;
    }>`select rolname from pg_roles where rolname in (${`${prefix}t_wh_a`}, ${`${prefix}t_wh_d`})`.execute(admin);
    expect(roles.rows).toEqual([]);
    const dbs = await sql<{
      datname: string;
    }>`select datname from pg_database where datname = ${`${prefix}warehouse_wh_d`}`.execute(admin);
    expect(dbs.rows).toEqual([]);
    expect(
      await plane.database.db
        .selectFrom('tenant_credentials')
        .selectAll()
        .where('tenant_id', 'in', ['wh-a', 'wh-d'])
        .execute(),
    ).toEqual([]);
  });
});
