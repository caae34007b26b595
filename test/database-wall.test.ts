/**
 * The database wall on PostgreSQL, attacked as a tenant would attack it, with the control
 * plane running least-privileged (CREATEROLE, CREATEDB, its own databases; no superuser).
 *
 * Tenant A owns its schema and plants functions where the control plane's work would run
 * them: a row-level-security policy (forced on the owner) on its own table and on
 * `tenancy_schema_migrations`, and a trigger on the latter. Each trap tries `RESET ROLE`,
 * reads tenant B's table, creates a role, and reports who it ran as to a witness table.
 * Migrations, archive, restore and a profile move must never run a trap with more than
 * A's rights, and must not lose A's rows to A's own policies. Beside that: A cannot reach
 * the store's database (its locks), cannot lock B's migrations, and its role's password
 * never reaches the server's log in plaintext.
 */
import { randomBytes } from 'node:crypto';
import { access, cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolationContext, publicDatabaseWarnings, tenantIdentifier } from '../src/isolation/index.js';
import { Kysely, PostgresDialect } from 'kysely';
import { PG_URL, pgClient as connect, type TestPlane, withClient } from './support/engines.js';
import { call, createActive, waitForPhase } from './support/http.js';
import { startWarehousePlane } from './support/warehouse.js';

const EXAMPLE = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));
const SERVER_LOG = '/var/log/postgresql/postgresql-15-main.log';

if (!PG_URL) console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: database wall tests are SKIPPED');

const superuser = <T>(database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> =>
  withClient(PG_URL!, fn, database);

describe.skipIf(!PG_URL)('the database wall holds against a tenant planting functions', () => {
  let plane: TestPlane;
  let prefix = '';
  let close: (() => Promise<void>) | undefined;
  let migrations: string;
  let warehouseDb: string;
  let storeDb: string;
  const tag = randomBytes(3).toString('hex');
  const escalated = `trap_escalated_${tag}`;
  const role = (id: string) => tenantIdentifier(id, prefix);
  const descriptor = async (id: string) =>
    (await call(plane, 'GET', `/v1/tenants/${id}/connection`)).json().database as {
      url: string;
      schema: string;
      database: string;
    };
  const witness = async () =>
    superuser(
      warehouseDb,
      async (c) =>
        (
          await c.query<{ phase: string; who: string; sess: string; sup: boolean; leak: string | null }>(
            'select * from trap_witness.log order by at',
          )
        ).rows,
    );
  const placed = async (id: string) => {
    const t = await plane.registry.get(id);
    return isolationContext(id, t.spec, t.status.placement?.profile);
  };
  const rowsOf = async (id: string, table: string) =>
    plane.resources.databases.withTenant(await placed(id), async (s) => {
      await s.exec(`alter table ${table} no force row level security`);
      return s.query<{ x: number }>(`select x from ${table} order by x`);
    });

  beforeAll(async () => {
    migrations = await mkdtemp(join(tmpdir(), 'tenancy-wall-'));
    await cp(EXAMPLE, migrations, { recursive: true });
    ({ plane, prefix, close } = await startWarehousePlane('postgres', { TENANCY_APP_MIGRATIONS: migrations }));
    await createActive(plane, 'wall-a');
    await createActive(plane, 'wall-b');
    const a = await descriptor('wall-a');
    warehouseDb = a.database;
    storeDb = new URL(plane.databaseUrl!).pathname.slice(1);
    // The witness: a table anyone may append to, outside every tenant's place.
    await superuser(warehouseDb, async (c) => {
      await c.query(
        `create schema trap_witness; create table trap_witness.log (at timestamptz default clock_timestamp(), phase text, who text, sess text, sup boolean, leak text)`,
      );
      await c.query(`grant usage on schema trap_witness to public; grant insert on trap_witness.log to public`);
    });
    const b = await connect((await descriptor('wall-b')).url);
    await b.query(`create table secret (v text); insert into secret values ('b-secret')`);
    await b.end();
    await plant();
  }, 120_000);

  afterAll(async () => {
    await superuser('postgres', (c) => c.query(`drop role if exists ${escalated}`)).catch(() => undefined);
    await close?.();
    await rm(migrations, { recursive: true, force: true });
  });

  /** Tenant A plants its traps, connected with its own credentials (again after a restore: functions are not archived). */
  async function plant(): Promise<void> {
    const bSchema = (await descriptor('wall-b')).schema;
    const c = await connect((await descriptor('wall-a')).url);
    await c.query(`
      create or replace function trap(phase text) returns boolean language plpgsql as $f$
      declare who text; sess text; sup boolean; leak text;
      begin
        begin reset role; exception when others then null; end;
        select current_user, session_user into who, sess;
        select rolsuper into sup from pg_catalog.pg_roles where rolname = current_user;
        begin execute 'select v from ${bSchema}.secret limit 1' into leak; exception when others then leak := null; end;
        begin execute 'create role ${escalated}'; leak := coalesce(leak, '') || '+created a role'; exception when others then null; end;
        insert into trap_witness.log (phase, who, sess, sup, leak) values (phase, who, sess, sup, leak);
        return true;
      end $f$`);
    await c.query(`
      create or replace function trap_trigger() returns trigger language plpgsql as $f$ begin perform trap('trigger on ' || tg_table_name); return new; end $f$`);
    await c.query(`create table if not exists trap_t (x int)`);
    if ((await c.query('select 1 from trap_t')).rows.length === 0)
      await c.query(`insert into trap_t values (1), (2), (3)`);
    await c.query(`alter table trap_t enable row level security; alter table trap_t force row level security`);
    // The policy shows no row to anyone but still runs the trap for every row it looks at.
    await c.query(
      `drop policy if exists p on trap_t; create policy p on trap_t using (trap('policy on trap_t') and false)`,
    );
    await c.query(
      `alter table tenancy_schema_migrations enable row level security; alter table tenancy_schema_migrations force row level security`,
    );
    await c.query(
      `drop policy if exists p on tenancy_schema_migrations; create policy p on tenancy_schema_migrations using (trap('policy on tenancy_schema_migrations')) with check (true)`,
    );
    await c.query(
      `drop trigger if exists t on tenancy_schema_migrations; create trigger t before insert on tenancy_schema_migrations for each row execute function trap_trigger()`,
    );
    await c.end();
  }

  /** Every trap that ran did so as A's roles only, learned nothing of B's, created nothing. */
  async function expectNoEscalation(): Promise<Array<{ phase: string; who: string }>> {
    const rows = await witness();
    const mine = new Set([role('wall-a'), `${prefix}m_wall_a`]);
    for (const r of rows) {
      expect(r, JSON.stringify(r)).toMatchObject({ sup: false, leak: null });
      expect(mine.has(r.who), `${r.phase} ran as ${r.who}`).toBe(true);
      expect(mine.has(r.sess), `${r.phase} ran in a session of ${r.sess}`).toBe(true);
    }
    const made = await superuser('postgres', (c) => c.query('select 1 from pg_roles where rolname = $1', [escalated]));
    expect(made.rows).toEqual([]);
    return rows;
  }

  it('runs planted functions no higher than the tenant during a migration rollout', async () => {
    await writeFile(join(migrations, '0003_wall.sql'), 'create table wall_marker (id int);\n');
    const run = (await call(plane, 'POST', '/v1/migrations', {})).json();
    let job: { state: string; error?: string } = run;
    for (
      const until = Date.now() + 30_000;
      Date.now() < until && job.state !== 'succeeded' && job.state !== 'failed';
    ) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await call(plane, 'GET', `/v1/jobs/${run.id}`)).json();
    }
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    const rows = await expectNoEscalation();
    // The traps did run (so this proves something): as the tenant, under its migration.
    expect(rows.map((r) => r.phase)).toEqual(
      expect.arrayContaining(['policy on tenancy_schema_migrations', 'trigger on tenancy_schema_migrations']),
    );
  }, 60_000);

  it('archives and restores the tenant without running its policy, and without losing the rows it hides', async () => {
    const before = (await witness()).length;
    expect((await call(plane, 'POST', '/v1/tenants/wall-a/archive', {})).statusCode).toBe(200);
    await waitForPhase(plane, 'wall-a', 'archived', 30_000);
    expect((await call(plane, 'POST', '/v1/tenants/wall-a/restore', {})).statusCode).toBe(200);
    await waitForPhase(plane, 'wall-a', 'active', 30_000);
    expect(await rowsOf('wall-a', 'trap_t')).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
    await expectNoEscalation();
    expect((await witness()).slice(before).map((r) => r.phase)).not.toContain('policy on trap_t');
  }, 90_000);

  it('moves the tenant to a database of its own without running its traps above its rights', async () => {
    await plant();
    await call(plane, 'PATCH', '/v1/tenants/wall-a', { spec: { profile: 'st-dedicated' } });
    for (const until = Date.now() + 60_000; ; ) {
      const t = (await call(plane, 'GET', '/v1/tenants/wall-a')).json();
      if (
        t.status.placement?.profile === 'st-dedicated' &&
        !t.status.placement.movingFrom &&
        t.status.observedGeneration === t.metadata.generation
      )
        break;
      if (Date.now() > until) throw new Error(`not moved: ${JSON.stringify(t.status)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await rowsOf('wall-a', 'trap_t')).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
    await expectNoEscalation();
  }, 90_000);

  it("keeps tenant roles out of the store's database (and its locks) and off other tenants' migration locks", async () => {
    const b = await descriptor('wall-b');
    await expect(connect(b.url, storeDb)).rejects.toMatchObject({ code: '42501' });
    const c = await connect(b.url);
    const a = await descriptor('wall-a');
    // A is dedicated now: B cannot enter its database either.
    await expect(connect(b.url, a.database)).rejects.toMatchObject({ code: '42501' });
    await createActive(plane, 'wall-c');
    const cSchema = (await descriptor('wall-c')).schema;
    await c.query('begin');
    await expect(c.query(`lock table ${cSchema}.tenancy_schema_migrations in access share mode`)).rejects.toMatchObject(
      { code: '42501' },
    );
    await c.query('rollback');
    await c.end();
  }, 60_000);
});

describe.skipIf(!PG_URL)('databases on the cluster a tenant role could still enter', () => {
  it('are named in a start-up warning with the statement a superuser should run', async () => {
    const name = `open_${randomBytes(3).toString('hex')}`;
    await superuser('postgres', (c) => c.query(`create database ${name}`));
    const admin = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL, max: 1 }) }),
    });
    try {
      const [warning] = await publicDatabaseWarnings(admin, []);
      expect(warning).toContain(name);
      expect(warning).toContain(`REVOKE CONNECT ON DATABASE "${name}" FROM PUBLIC;`);
      await superuser('postgres', (c) => c.query(`revoke connect on database ${name} from public`));
      expect((await publicDatabaseWarnings(admin, [])).join(' ')).not.toContain(name);
    } finally {
      await admin.destroy();
      await superuser('postgres', (c) => c.query(`drop database if exists ${name}`));
    }
  });
});

describe.skipIf(!PG_URL)("tenant role passwords never reach the server's log in plaintext", () => {
  it('sends SCRAM verifiers only, and no statement fails into the log on re-provisioning', async (context) => {
    const readable = await access(SERVER_LOG).then(
      () => true,
      () => false,
    );
    if (!readable) {
      console.warn(`[tenancy tests] ${SERVER_LOG} is not readable: the server-log password check is SKIPPED`);
      context.skip();
    }
    // Every statement in the warehouse is logged: what a DBA with log_statement = 'all' would see.
    const { plane, close } = await startWarehousePlane(
      'postgres',
      {},
      {
        beforeStart: (lp) =>
          superuser('postgres', (c) =>
            c.query(`alter database ${new URL(lp.warehouseUrl).pathname.slice(1)} set log_statement = 'all'`),
          ).then(() => undefined),
      },
    );
    try {
      const from = (await stat(SERVER_LOG)).size;
      await createActive(plane, 'pw-a');
      const ctx = isolationContext('pw-a', (await plane.registry.get('pw-a')).spec, 'mt-standard');
      await plane.resources.databases.ensure(ctx);
      await plane.resources.databases.withTenant(ctx, (s) => s.query('select 1'));
      const password = decodeURIComponent(new URL((await plane.resources.databases.connection(ctx)).url!).password);
      const log = (await readFile(SERVER_LOG)).subarray(from).toString('utf8');
      expect(log).toContain('SCRAM-SHA-256$');
      expect(log).not.toContain(password);
      expect(log).not.toMatch(/role "[^"]*pw_a" already exists/);
    } finally {
      await close();
    }
  }, 60_000);
});
