/**
 * The least-privilege store on PostgreSQL: a schema owner role runs the migrations and
 * grants the runtime role (the one that appends audit records) only what it needs, so the
 * runtime role cannot disable the append-only triggers or change audit rows and
 * checkpoints, while the control plane works as usual.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startControlPlane, type ControlPlane } from '../src/control-plane.js';
import { ADMIN_TOKEN, PG_URL, type TestPlane, withClient } from './support/engines.js';
import { call, createActive } from './support/http.js';

const suite = PG_URL ? describe : describe.skip;
if (!PG_URL)
  console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: the store role-split suite is SKIPPED');

/** `PG_URL` logging in as `role` to `database`. */
function urlAs(role: string, database: string): string {
  const u = new URL(PG_URL!);
  u.username = role;
  u.password = '';
  u.pathname = `/${database}`;
  return u.toString();
}

const admin = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => withClient(PG_URL!, fn);

suite('the store with a separate owner role', () => {
  const tag = randomBytes(4).toString('hex');
  const owner = `tenancy_owner_${tag}`;
  const runtime = `tenancy_runtime_${tag}`;
  const database = `tenancy_t_roles_${tag}`;
  let dataDir: string;
  let plane: ControlPlane | undefined;
  let rt: pg.Client;

  const start = (env: Record<string, string>) =>
    startControlPlane(
      loadConfig(
        { port: '0', host: '127.0.0.1', dataDir },
        { TENANCY_ADMIN_TOKEN: ADMIN_TOKEN, TENANCY_LOG_LEVEL: 'silent', ...env },
      ),
      { inMemory: true, listen: false, controllerResyncMs: 60_000 },
    );

  beforeAll(async () => {
    await admin(async (c) => {
      await c.query(`create role ${owner} login nosuperuser nocreatedb nocreaterole`);
      await c.query(`create role ${runtime} login nosuperuser nocreatedb nocreaterole`);
      await c.query(`create database ${database} owner ${owner}`);
    });
    dataDir = await mkdtemp(join(tmpdir(), 'tenancy-roles-'));
    plane = await start({
      TENANCY_DATABASE_URL: urlAs(runtime, database),
      TENANCY_DATABASE_OWNER_URL: urlAs(owner, database),
    });
    rt = new pg.Client({ connectionString: urlAs(runtime, database) });
    await rt.connect();
  }, 120_000);

  afterAll(async () => {
    await rt?.end();
    await plane?.close();
    await admin(async (c) => {
      await c.query(`drop database if exists ${database} with (force)`);
      await c.query(`drop role if exists ${runtime}`);
      await c.query(`drop role if exists ${owner}`);
    });
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('runs the control plane as the runtime role, with the schema owned by the owner role', async () => {
    const testPlane = plane as TestPlane;
    await createActive(testPlane, 'split-a');
    const verified = (await call(testPlane, 'GET', '/v1/audit/verify')).json();
    expect(verified).toMatchObject({ ok: true, keyedFrom: 1 });
    expect(verified.records).toBeGreaterThan(2);
    const roles = (
      await rt.query(
        `select current_user as me, (select pg_catalog.pg_get_userbyid(relowner) from pg_class where relname = 'audit_log') as owner`,
      )
    ).rows[0];
    expect(roles).toEqual({ me: runtime, owner });
  });

  it('does not let the runtime role disable the triggers, or change or delete audit records and checkpoints', async () => {
    for (const statement of [
      'alter table audit_log disable trigger user',
      'alter table audit_checkpoints disable trigger user',
      'alter table audit_log disable trigger audit_log_no_update_delete',
      'drop trigger audit_log_no_truncate on audit_log',
      'drop function audit_log_append_only() cascade',
    ]) {
      await expect(rt.query(statement), statement).rejects.toThrow(/must be owner/);
    }
    for (const statement of [
      `update audit_log set actor = 'someone else' where seq = 1`,
      'delete from audit_log where seq = 1',
      'truncate audit_log',
      `update audit_checkpoints set hash = repeat('0', 64)`,
      'delete from audit_checkpoints',
      'truncate audit_checkpoints',
      'create table planted (id int)',
    ]) {
      await expect(rt.query(statement), statement).rejects.toThrow(/permission denied/);
    }
    expect((await call(plane as TestPlane, 'GET', '/v1/audit/verify')).json()).toMatchObject({ ok: true });
  });

  it('grants every table the migrations made: read and write, but only read and append on the audit tables', async () => {
    const rows = (
      await rt.query<{
        name: string;
        select: boolean;
        insert: boolean;
        update: boolean;
        delete: boolean;
        truncate: boolean;
      }>(`
        select c.relname as name, has_table_privilege(c.oid, 'SELECT') as select, has_table_privilege(c.oid, 'INSERT') as insert,
          has_table_privilege(c.oid, 'UPDATE') as update, has_table_privilege(c.oid, 'DELETE') as delete, has_table_privilege(c.oid, 'TRUNCATE') as truncate
        from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'`)
    ).rows;
    expect(rows.length).toBeGreaterThan(20);
    const byName = new Map(rows.map((r) => [r.name, r]));
    for (const audit of ['audit_log', 'audit_checkpoints'])
      expect(byName.get(audit)).toEqual({
        name: audit,
        select: true,
        insert: true,
        update: false,
        delete: false,
        truncate: false,
      });
    expect(byName.get('tenants')).toEqual({
      name: 'tenants',
      select: true,
      insert: true,
      update: true,
      delete: true,
      truncate: false,
    });
    expect(byName.get('tenancy_migrations')).toMatchObject({
      select: true,
      insert: false,
      update: false,
      delete: false,
    });
    const ordinary = rows.filter(
      (r) => !['audit_log', 'audit_checkpoints', 'tenancy_migrations', 'tenancy_migrations_lock'].includes(r.name),
    );
    expect(
      ordinary.filter((r) => !(r.select && r.insert && r.update && r.delete) || r.truncate).map((r) => r.name),
    ).toEqual([]);
  });

  it('refuses an owner URL that logs in as the runtime role', async () => {
    await expect(
      start({ TENANCY_DATABASE_URL: urlAs(runtime, database), TENANCY_DATABASE_OWNER_URL: urlAs(runtime, database) }),
    ).rejects.toThrow(/must log in as another role/);
  });
});
