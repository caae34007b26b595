/**
 * Tenant-scoped database access on PostgreSQL (skipped without TENANCY_TEST_DATABASE_URL):
 * row-level security on a shared table holds for an ordinary role that owns the table (so
 * FORCE matters), a query without WHERE sees one tenant, a pooled connection carries no
 * tenant to the next use; and `TenantDatabases` connects as each tenant's own role, with
 * its schema on the search path, other tenants' schemas refused, and an LRU bound on pools.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy, enableTenantRls, withTenantTransaction, type Tenancy } from '../src/sdk/index.js';
import { freshPostgresDatabase, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive } from './support/http.js';

if (!PG_URL)
  console.warn(
    '[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: SDK tenant databases and row-level security on PostgreSQL are SKIPPED',
  );
const MIGRATIONS = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));

/** Drop roles whose names start with `prefix` (roles outlive databases). */
async function dropRoles(prefix: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    const roles = await admin.query<{ rolname: string }>(`select rolname from pg_roles where rolname like $1`, [
      `${prefix}%`,
    ]);
    for (const r of roles.rows)
      await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`, [r.rolname]);
    const dbs = await admin.query<{ datname: string }>(`select datname from pg_database where datname like $1`, [
      `${prefix}%`,
    ]);
    for (const d of dbs.rows) await admin.query(`drop database if exists "${d.datname}" with (force)`);
    for (const r of roles.rows) await admin.query(`drop role if exists "${r.rolname}"`).catch(() => undefined);
  } finally {
    await admin.end();
  }
}

describe.runIf(PG_URL)('row-level security on shared tables', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  const role = `rls_app_${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    database = await freshPostgresDatabase();
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query(`create role ${role} login password 'app-pass' nosuperuser nobypassrls`);
    await admin.query(`grant create, usage on schema public to ${role}`);
    await admin.end();
    const url = new URL(database.url);
    url.username = role;
    url.password = 'app-pass';
    // One connection: every use below reuses the same session, as a pooled app would.
    pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    for (const table of ['shared_notes', 'unforced_notes']) {
      await pool.query(`create table ${table} (id serial primary key, tenant_id text not null, body text not null)`);
      await pool.query(
        `insert into ${table} (tenant_id, body) values ('acme', 'a1'), ('acme', 'a2'), ('globex', 'g1')`,
      );
    }
    await enableTenantRls(pool, 'shared_notes');
    // For contrast: ENABLE without FORCE, which does not hold the table's owner.
    await pool.query(`alter table unforced_notes enable row level security`);
    await pool.query(
      `create policy p on unforced_notes using (tenant_id = nullif(current_setting('app.tenant_id', true), ''))`,
    );
  }, 60_000);

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
    await dropRoles(role);
  });

  it('shows a tenant only its rows, even to the owner and without a WHERE', async () => {
    const rows = await withTenantTransaction(
      pool,
      'acme',
      async (c) => (await c.query('select body from shared_notes order by body')).rows,
    );
    expect(rows.map((r) => r.body)).toEqual(['a1', 'a2']);
    const globex = await withTenantTransaction(
      pool,
      'globex',
      async (c) => (await c.query('select body from shared_notes')).rows,
    );
    expect(globex.map((r) => r.body)).toEqual(['g1']);
    // Without FORCE the owner sees everything: the helper's FORCE is what holds it.
    const unforced = await withTenantTransaction(
      pool,
      'acme',
      async (c) => (await c.query('select body from unforced_notes')).rows,
    );
    expect(unforced).toHaveLength(3);
  });

  it('leaves nothing on the pooled connection after a transaction, committed or failed', async () => {
    await withTenantTransaction(pool, 'acme', (c) => c.query('select 1'));
    expect((await pool.query('select count(*)::int as n from shared_notes')).rows[0].n).toBe(0);
    expect((await pool.query(`select current_setting('app.tenant_id', true) as t`)).rows[0].t ?? '').toBe('');
    await expect(
      withTenantTransaction(pool, 'acme', async (c) => c.query('select * from no_such_table')),
    ).rejects.toThrow(/no_such_table/);
    expect((await pool.query('select count(*)::int as n from shared_notes')).rows[0].n).toBe(0);
  });

  it('refuses writes into another tenant and confines an unqualified UPDATE', async () => {
    await expect(
      withTenantTransaction(pool, 'acme', (c) =>
        c.query(`insert into shared_notes (tenant_id, body) values ('globex', 'planted')`),
      ),
    ).rejects.toThrow(/row-level security/);
    const updated = await withTenantTransaction(pool, 'globex', (c) =>
      c.query(`update shared_notes set body = body || '!'`),
    );
    expect(updated.rowCount).toBe(1);
    const acme = await withTenantTransaction(
      pool,
      'acme',
      async (c) => (await c.query('select body from shared_notes order by body')).rows,
    );
    expect(acme.map((r) => r.body)).toEqual(['a1', 'a2']);
  });

  it('is idempotent and rejects unsafe table names', async () => {
    await enableTenantRls(pool, 'shared_notes');
    const policies = await pool.query(`select count(*)::int as n from pg_policies where tablename = 'shared_notes'`);
    expect(policies.rows[0].n).toBe(1);
    await expect(enableTenantRls(pool, 'a.b.c')).rejects.toMatchObject({ code: 'invalid_identifier' });
  });
});

describe.runIf(PG_URL)('tenantDb pools on a PostgreSQL warehouse', () => {
  let plane: TestPlane;
  let warehouse: { url: string; drop: () => Promise<void> };
  let tenancy: Tenancy;
  const prefix = `s${randomBytes(3).toString('hex')}_`;

  beforeAll(async () => {
    warehouse = await freshPostgresDatabase();
    plane = await startTestPlane('postgres', {
      listen: true,
      env: {
        TENANCY_WAREHOUSE_URL: warehouse.url,
        TENANCY_WAREHOUSE_ROLE_PREFIX: prefix,
        TENANCY_APP_MIGRATIONS: MIGRATIONS,
      },
    });
    await createActive(plane, 'db-one');
    await createActive(plane, 'db-two');
    const token = (await call(plane, 'POST', '/v1/api-keys', { name: 'app', role: 'platform-operator' })).json().token;
    tenancy = await createTenancy({ controlPlane: { url: plane.url, token }, databases: { maxPools: 1, poolSize: 2 } });
  }, 90_000);

  afterAll(async () => {
    await tenancy?.close();
    await plane?.stop();
    await warehouse?.drop();
    await dropRoles(prefix);
  });

  it("connects as the tenant's role in its schema, refuses the other tenant's, and bounds the pools", async () => {
    const one = tenancy.databases.forTenant('db-one');
    const two = tenancy.databases.forTenant('db-two');
    await one.query(`insert into notes (title) values ('from one')`);
    const who = await one.query<{ user: string; schema: string }>(
      'select current_user as user, current_schema() as schema',
    );
    expect(who[0]!.user).toBe(`${prefix}t_db_one`);
    expect(who[0]!.schema).toBe(`${prefix}t_db_one`);
    expect(tenancy.databases.size).toBe(1);
    expect(await two.query('select title from notes')).toEqual([]);
    // The LRU bound (1) closed db-one's pool to open db-two's.
    expect(tenancy.databases.size).toBe(1);
    await expect(two.query(`select * from "${prefix}t_db_one".notes`)).rejects.toThrow(/permission denied/);
    expect((await one.query<{ title: string }>('select title from notes')).map((r) => r.title)).toEqual(['from one']);
  });
});
