/**
 * The shared database mapper on PostgreSQL: real schemas and login roles per tenant, and
 * the wall between them held by the database itself. Tenant A, connected with its own
 * credentials, cannot read, write, list or alter anything of tenant B, nor use `public`.
 * Also run on PGlite for the mapper's idempotence (PGlite's isolation is the application's).
 */
import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/infra/sql/index.js';
import {
  DedicatedDatabaseMapper,
  SharedDatabaseMapper,
  tenantIdentifier,
  type RoleIdentity,
  type RoleRequest,
} from '../src/isolation/index.js';
import { freshPostgresDatabase, PG_URL } from './support/engines.js';
import type { Schema } from '../src/schema.js';

const password = () => randomBytes(24).toString('base64url');
const INSTALLATION = `test-${randomBytes(4).toString('hex')}`;
/** Whose roles the mappers make here: this test's installation, a uid per tenant. */
const identity = (tenantId: string): RoleIdentity => ({
  owner: { installationId: INSTALLATION, tenantId, tenantUid: `uid-${tenantId}` },
});
const request = (tenantId: string, secret: string): RoleRequest => ({ ...identity(tenantId), password: secret });
/** A connection as a tenant's own role; sessions ended by the mapper surface on its queries. */
function tenantClient(baseUrl: string, role: string, secret: string, database?: string): Kysely<unknown> {
  const u = new URL(baseUrl);
  u.username = role;
  u.password = secret;
  if (database) u.pathname = `/${database}`;
  const pool = new pg.Pool({ connectionString: u.toString(), max: 1 });
  pool.on('error', () => undefined);
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
}

if (!PG_URL)
  console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: PostgreSQL isolation tests are SKIPPED');

describe('tenant identifiers', () => {
  it('maps ids one to one and fits PostgreSQL names', () => {
    expect(tenantIdentifier('acme-corp')).toBe('t_acme_corp');
    const long = 'a'.repeat(63);
    const other = `${'a'.repeat(62)}b`;
    expect(tenantIdentifier(long).length).toBeLessThanOrEqual(63);
    expect(tenantIdentifier(long)).not.toBe(tenantIdentifier(other));
    expect(() => tenantIdentifier('Bad_Id')).toThrow(/not a tenant id/);
  });
});

describe('shared database mapper on PGlite', () => {
  let db: Database<Schema>;
  beforeAll(async () => {
    db = await openDatabase<Schema>({ dataDir: undefined });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('ensures, observes, suspends and removes idempotently', async () => {
    const mapper = new SharedDatabaseMapper(db.db, 'postgres');
    const pw = password();
    const first = await mapper.ensure('acme', request('acme', pw));
    expect(first).toMatchObject({
      role: 't_acme',
      schema: 't_acme',
      roleExists: true,
      schemaExists: true,
      canLogin: false,
      ownedByTenant: true,
    });
    expect(await mapper.ensure('acme', request('acme', pw))).toEqual(first);
    await mapper.enableLogin('acme');
    expect((await mapper.observe('acme'))?.canLogin).toBe(true);
    await mapper.disableLogin('acme');
    expect((await mapper.observe('acme'))?.canLogin).toBe(false);
    await mapper.remove('acme', identity('acme'));
    await mapper.remove('acme', identity('acme'));
    expect(await mapper.observe('acme')).toBeUndefined();
  });
});

describe.skipIf(!PG_URL)('shared database mapper on PostgreSQL', () => {
  let warehouse: { url: string; drop: () => Promise<void> };
  let admin: Kysely<unknown>;
  let mapper: SharedDatabaseMapper;
  const prefix = `z${randomBytes(3).toString('hex')}_`;
  const creds = new Map<string, string>();
  const clients: Kysely<unknown>[] = [];

  const connectAs = (tenant: string) => {
    const k = tenantClient(warehouse.url, mapper.names(tenant).role, creds.get(tenant)!);
    clients.push(k);
    return k;
  };

  beforeAll(async () => {
    warehouse = await freshPostgresDatabase();
    admin = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: warehouse.url, max: 2 }) }),
    });
    mapper = new SharedDatabaseMapper(admin, new URL(warehouse.url).pathname.slice(1), prefix);
    await mapper.prepareWarehouse();
    for (const t of ['tenant-a', 'tenant-b']) {
      creds.set(t, password());
      await mapper.ensure(t, request(t, creds.get(t)!));
      await mapper.enableLogin(t);
    }
    const b = connectAs('tenant-b');
    await sql`create table notes (id serial primary key, body text)`.execute(b);
    await sql`insert into notes (body) values ('b secret')`.execute(b);
    await sql`create function b_fn() returns int language sql as 'select 42'`.execute(b);
  });
  afterAll(async () => {
    for (const c of clients) await c.destroy();
    if (mapper) for (const t of ['tenant-a', 'tenant-b']) await mapper.remove(t, identity(t));
    await admin?.destroy();
    await warehouse?.drop();
  });

  it('gives tenant roles no dangerous attributes', async () => {
    const rows = await sql<{
      rolname: string;
      rolsuper: boolean;
      rolbypassrls: boolean;
      rolcreaterole: boolean;
      rolcreatedb: boolean;
      rolreplication: boolean;
    }>`select rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication from pg_roles where rolname like ${`${prefix}%`} order by rolname`.execute(
      admin,
    );
    // Each tenant has its role and its maintenance role.
    expect(rows.rows).toHaveLength(4);
    for (const r of rows.rows)
      expect(r).toMatchObject({
        rolsuper: false,
        rolbypassrls: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolreplication: false,
      });
  });

  it('lets a tenant work in its own schema by default', async () => {
    const a = connectAs('tenant-a');
    await sql`create table notes (id serial primary key, body text)`.execute(a);
    await sql`insert into notes (body) values ('a note')`.execute(a);
    const rows = await sql<{ body: string }>`select body from notes`.execute(a);
    expect(rows.rows).toEqual([{ body: 'a note' }]);
  });

  it("refuses every attempt of tenant A on tenant B's objects, and on public", async () => {
    const a = connectAs('tenant-a');
    const b = mapper.names('tenant-b').schema;
    const attempts: Array<[string, ReturnType<typeof sql>]> = [
      ['read B table', sql`select * from ${sql.id(b)}.notes`],
      ['write B table', sql`insert into ${sql.id(b)}.notes (body) values ('x')`],
      ['alter B table', sql`alter table ${sql.id(b)}.notes add column x int`],
      ['drop B table', sql`drop table ${sql.id(b)}.notes`],
      ['use B sequence', sql`select nextval(${`${b}.notes_id_seq`}::regclass)`],
      ['call B function', sql`select ${sql.id(b)}.b_fn()`],
      ['create in B schema', sql`create table ${sql.id(b)}.planted (x int)`],
      ['create in public', sql`create table public.planted (x int)`],
      ['become B', sql`set role ${sql.id(mapper.names('tenant-b').role)}`],
      ['drop B schema', sql`drop schema ${sql.id(b)} cascade`],
      ['create a database', sql`create database planted`],
      ['create a role', sql`create role planted`],
      ['read large objects', sql`select lo_get(1)`],
    ];
    const outcomes: string[] = [];
    for (const [what, q] of attempts) {
      try {
        await q.execute(a);
        outcomes.push(`${what}: ALLOWED`);
      } catch (error) {
        const code = (error as { code?: string }).code;
        outcomes.push(
          `${what}: ${code === '42501' || code === '42P01' || code === '42704' || code === '22023' ? 'refused' : `error ${code}`}`,
        );
      }
    }
    expect(outcomes.filter((o) => !o.endsWith('refused'))).toEqual([]);
    const tables = await sql<{
      n: number;
    }>`select count(*)::int as n from information_schema.tables where table_schema = ${b}`.execute(a);
    expect(tables.rows[0]!.n).toBe(0);
    const still = await sql<{ body: string }>`select body from ${sql.id(b)}.notes`.execute(admin);
    expect(still.rows).toEqual([{ body: 'b secret' }]);
  });

  it('ends open sessions and refuses logins while suspended, and lets them back on resume', async () => {
    const a = connectAs('tenant-a');
    await sql`select 1`.execute(a);
    await mapper.disableLogin('tenant-a');
    await expect(sql`select 1`.execute(a)).rejects.toThrow();
    await expect(sql`select 1`.execute(connectAs('tenant-a'))).rejects.toMatchObject({ code: '28000' });
    await mapper.enableLogin('tenant-a');
    const rows = await sql<{ one: number }>`select 1 as one`.execute(connectAs('tenant-a'));
    expect(rows.rows).toEqual([{ one: 1 }]);
  });

  it('removes schema and role completely, and a second remove is a no-op', async () => {
    creds.set('tenant-c', password());
    await mapper.ensure('tenant-c', request('tenant-c', creds.get('tenant-c')!));
    await mapper.enableLogin('tenant-c');
    await sql`create table t (x int)`.execute(connectAs('tenant-c'));
    await mapper.remove('tenant-c', identity('tenant-c'));
    await mapper.remove('tenant-c', identity('tenant-c'));
    expect(await mapper.observe('tenant-c')).toBeUndefined();
    const left = await sql<{
      n: number;
    }>`select count(*)::int as n from pg_roles where rolname in (${mapper.names('tenant-c').role}, ${mapper.names('tenant-c').maintenance})`.execute(
      admin,
    );
    expect(left.rows[0]!.n).toBe(0);
  });
});

describe.skipIf(!PG_URL)('dedicated database mapper on PostgreSQL', () => {
  let admin: Kysely<unknown>;
  let mapper: DedicatedDatabaseMapper;
  const prefix = `y${randomBytes(3).toString('hex')}_`;
  const creds = new Map<string, string>();
  const clients: Kysely<unknown>[] = [];
  const connectAs = (tenant: string, database?: string) => {
    const names = mapper.names(tenant);
    const k = tenantClient(PG_URL!, names.role, creds.get(tenant)!, database ?? names.database);
    clients.push(k);
    return k;
  };

  beforeAll(async () => {
    admin = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL!, max: 2 }) }),
    });
    mapper = new DedicatedDatabaseMapper(admin, prefix);
    for (const t of ['ded-a', 'ded-b']) {
      creds.set(t, password());
      await mapper.ensure(t, request(t, creds.get(t)!));
      await mapper.enableLogin(t);
    }
    await sql`create table notes (body text)`.execute(connectAs('ded-b'));
    await sql`insert into notes values ('b secret')`.execute(connectAs('ded-b'));
  });
  afterAll(async () => {
    for (const c of clients) await c.destroy().catch(() => undefined);
    if (mapper) for (const t of ['ded-a', 'ded-b']) await mapper.remove(t, identity(t));
    await admin?.destroy();
  });

  it('gives each tenant its own database that only it (and the platform) can enter', async () => {
    const observed = await mapper.observe('ded-a');
    expect(observed).toMatchObject({ roleExists: true, databaseExists: true, canLogin: true, ownedByTenant: true });
    expect(await mapper.ensure('ded-a', request('ded-a', creds.get('ded-a')!))).toEqual(observed);
    await sql`create table mine (x int)`.execute(connectAs('ded-a'));
    await expect(sql`select 1`.execute(connectAs('ded-a', mapper.names('ded-b').database))).rejects.toMatchObject({
      code: '42501',
    });
    const still = await sql<{ body: string }>`select body from notes`.execute(connectAs('ded-b'));
    expect(still.rows).toEqual([{ body: 'b secret' }]);
  });

  it('suspends logins and removes database and role completely', async () => {
    await mapper.disableLogin('ded-a');
    await expect(sql`select 1`.execute(connectAs('ded-a'))).rejects.toMatchObject({ code: '28000' });
    await mapper.enableLogin('ded-a');
    creds.set('ded-c', password());
    await mapper.ensure('ded-c', request('ded-c', creds.get('ded-c')!));
    await mapper.remove('ded-c', identity('ded-c'));
    await mapper.remove('ded-c', identity('ded-c'));
    expect(await mapper.observe('ded-c')).toBeUndefined();
  });
});
