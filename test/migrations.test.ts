/**
 * App migration sets end to end, on the embedded warehouse (PGlite) and on a PostgreSQL
 * warehouse: provisioning applies the set as the tenant's role; `POST /v1/migrations`
 * rolls a new version out in waves as a job with progress; a no-op run touches nothing; a
 * broken file stops the run at the first failing wave with nothing half-applied; an edited
 * applied migration and bad requests are refused.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startControlPlane } from '../src/control-plane.js';
import { isolationContext } from '../src/isolation/index.js';
import { main } from '../src/cli/main.js';
import { ADMIN_TOKEN, freshPostgresDatabase, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, manifest, waitForPhase } from './support/http.js';

const EXAMPLE = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));
const kinds = PG_URL ? (['embedded', 'postgres'] as const) : (['embedded'] as const);
if (!PG_URL)
  console.warn(
    '[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: migrations on a PostgreSQL warehouse are SKIPPED',
  );

async function waitJob(plane: TestPlane, id: string, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await call(plane, 'GET', `/v1/jobs/${id}`)).json();
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(kinds)('app migrations on the %s warehouse', (kind) => {
  let plane: TestPlane;
  let folder: string;
  let warehouse: { url: string; drop: () => Promise<void> } | undefined;
  const prefix = `m${randomBytes(3).toString('hex')}_`;
  const tenants = Array.from({ length: 10 }, (_, i) => `mig-${i}`);
  const ctx = async (id: string) => isolationContext(id, (await plane.registry.get(id)).spec);
  const notesOf = async (id: string) =>
    plane.resources.databases.withTenant(await ctx(id), (s) =>
      s.query<{ title: string; tags?: string[] }>('select * from notes order by id'),
    );

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'tenancy-migrations-'));
    await cp(join(EXAMPLE, '0001_notes.sql'), join(folder, '0001_notes.sql'));
    warehouse = kind === 'postgres' ? await freshPostgresDatabase() : undefined;
    plane = await startTestPlane(kind === 'postgres' ? 'postgres' : 'pglite', {
      env: {
        TENANCY_APP_MIGRATIONS: folder,
        ...(warehouse ? { TENANCY_WAREHOUSE_URL: warehouse.url, TENANCY_WAREHOUSE_ROLE_PREFIX: prefix } : {}),
      },
    });
    for (const id of tenants) await createActive(plane, id, id === 'mig-9' ? { profile: 'st-dedicated' } : {});
  }, 60_000);

  afterAll(async () => {
    await plane?.stop();
    if (warehouse) {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      const left = await admin.query(`select rolname from pg_roles where rolname like '${prefix}%'`);
      for (const r of left.rows) {
        await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`, [r.rolname]);
      }
      const dbs = await admin.query(`select datname from pg_database where datname like '${prefix}%'`);
      for (const d of dbs.rows) await admin.query(`drop database if exists "${d.datname}" with (force)`);
      await admin.end();
      await warehouse.drop();
      const again = new pg.Client({ connectionString: PG_URL });
      await again.connect();
      for (const r of left.rows) await again.query(`drop role if exists "${r.rolname}"`).catch(() => undefined);
      await again.end();
    }
    await rm(folder, { recursive: true, force: true });
  });

  it('applies the set on provisioning, as the tenant role, and records it per environment', async () => {
    const rec = (await call(plane, 'GET', '/v1/tenants/mig-0/migrations')).json();
    expect(rec.items).toEqual([
      expect.objectContaining({
        environment: 'prod',
        version: '0001',
        name: 'notes',
        checksum: expect.stringMatching(/^[0-9a-f]{64}$/),
      }),
    ]);
    const owner = await plane.resources.databases.withTenant(await ctx('mig-0'), async (s) => {
      await s.query(`insert into notes (title) values ('first')`);
      return s.query<{ owner: string; me: string }>(
        `select tableowner as owner, current_user as me from pg_tables where tablename = 'notes' and schemaname = current_schema()`,
      );
    });
    expect(owner).toEqual([{ owner: owner[0]!.me, me: expect.stringContaining('t_mig_0') }]);
    // The tenant's role cannot see another tenant's table, even by its schema-qualified name.
    const other = (await plane.resources.databases.connection(await ctx('mig-1'))).schema;
    await expect(
      plane.resources.databases.withTenant(await ctx('mig-0'), (s) => s.query(`select * from "${other}".notes`)),
    ).rejects.toThrow(/permission denied/);
    expect((await notesOf('mig-9')).length).toBe(0);
    // The descriptor per environment: the tenant's environments only.
    expect((await call(plane, 'GET', '/v1/tenants/mig-0/connection?env=prod')).json()).toMatchObject({
      tenantId: 'mig-0',
      environment: 'prod',
      database: { role: expect.stringContaining('t_mig_0') },
    });
    expect(
      expectProblem(await call(plane, 'GET', '/v1/tenants/mig-0/connection?env=staging'), 404, 'environment_not_found')
        .errors,
    ).toEqual([expect.objectContaining({ path: '/query/env' })]);
    expectProblem(await call(plane, 'GET', '/v1/tenants/mig-0/connection?env=Not_A_Label'), 400, 'invalid_query');
  });

  it('rolls a new migration out in waves as a job with progress, then a no-op run touches nothing', async () => {
    await cp(join(EXAMPLE, '0002_note_tags.sql'), join(folder, '0002_note_tags.sql'));
    const started = await call(plane, 'POST', '/v1/migrations', {
      to: '0002',
      waves: ['10%', '50%', '100%'],
      concurrency: 3,
    });
    expect(started.statusCode).toBe(202);
    expect(started.headers.location).toBe(`/v1/jobs/${started.json().id}`);
    const job = await waitJob(plane, started.json().id);
    expect(job).toMatchObject({
      kind: 'migrate',
      state: 'succeeded',
      attempts: 1,
      progress: { done: 10, total: 10 },
      lastError: null,
    });
    expect(job.result.waves.map((w: any) => [w.percent, w.tenants, w.applied])).toEqual([
      [10, 1, 1],
      [50, 4, 4],
      [100, 5, 5],
    ]);
    expect(job.result.counts).toEqual({ total: 10, applied: 10, upToDate: 0, failed: 0, notRun: 0 });
    expect(await notesOf('mig-0')).toEqual([expect.objectContaining({ title: 'first', tags: [] })]);
    expect((await call(plane, 'GET', '/v1/tenants/mig-9/migrations')).json().items.map((i: any) => i.version)).toEqual([
      '0001',
      '0002',
    ]);

    const t0 = Date.now();
    const noop = await waitJob(plane, (await call(plane, 'POST', '/v1/migrations', {})).json().id);
    expect(noop).toMatchObject({
      state: 'succeeded',
      params: { to: '0002' },
      result: { counts: { total: 10, applied: 0, upToDate: 10 }, tenants: [] },
    });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('stops at the first failing wave; the failing tenant keeps nothing of the broken migration', async () => {
    await writeFile(join(folder, '0003_broken.sql'), 'create table half_made (id int);\ncreate table oops (;\n');
    const job = await waitJob(plane, (await call(plane, 'POST', '/v1/migrations', { waves: [10, 100] })).json().id);
    expect(job.state).toBe('failed');
    expect(job.lastError).toMatch(/stopped after wave 1: tenant mig-\d: migration 0003_broken\.sql failed/);
    expect(job.result.counts).toMatchObject({ total: 10, failed: 1, notRun: 9, applied: 0 });
    const failed = job.result.tenants.find((t: any) => t.status === 'failed');
    const tables = await plane.resources.databases.withTenant(await ctx(failed.tenantId), (s) =>
      s.query(`select tablename from pg_tables where schemaname = current_schema() and tablename = 'half_made'`),
    );
    expect(tables).toEqual([]);
    expect(
      (await call(plane, 'GET', `/v1/tenants/${failed.tenantId}/migrations`)).json().items.map((i: any) => i.version),
    ).toEqual(['0001', '0002']);

    // A tenant provisioned meanwhile is not reported active: it stays provisioning, Degraded with the reason.
    expect((await call(plane, 'POST', '/v1/tenants', manifest('mig-new'))).statusCode).toBe(201);
    const deadline = Date.now() + 10_000;
    let t: any;
    do {
      await new Promise((r) => setTimeout(r, 100));
      t = (await call(plane, 'GET', '/v1/tenants/mig-new')).json();
    } while (!t.status.conditions.some((c: any) => c.type === 'Degraded') && Date.now() < deadline);
    expect(t.status.phase).toBe('provisioning');
    expect(t.status.conditions).toContainEqual(
      expect.objectContaining({
        type: 'Degraded',
        status: 'True',
        message: expect.stringContaining('0003_broken.sql'),
      }),
    );

    // Fixing the file heals both: the new tenant provisions, and a run brings everyone to 0003.
    await writeFile(
      join(folder, '0003_broken.sql'),
      'create table audit_trail (id bigserial primary key, note_id bigint references notes(id));\n',
    );
    plane.controller.enqueue('mig-new');
    await waitForPhase(plane, 'mig-new', 'active', 15_000);
    const fixed = await waitJob(plane, (await call(plane, 'POST', '/v1/migrations', { concurrency: 4 })).json().id);
    expect(fixed).toMatchObject({
      state: 'succeeded',
      result: { counts: { total: 11, applied: 10, upToDate: 1, failed: 0 } },
    });
  }, 60_000);

  it('refuses an edited applied migration and bad requests, changing nothing', async () => {
    await writeFile(join(folder, '0001_notes.sql'), '-- edited after release\ncreate table notes (id int);\n');
    await writeFile(join(folder, '0004_more.sql'), 'create table more (id int);\n');
    const job = await waitJob(plane, (await call(plane, 'POST', '/v1/migrations', { tenants: ['mig-0'] })).json().id);
    expect(job.state).toBe('failed');
    expect(job.lastError).toMatch(/0001_notes\.sql was changed after tenant mig-0 applied it/);
    await cp(join(EXAMPLE, '0001_notes.sql'), join(folder, '0001_notes.sql'));

    expect(
      expectProblem(await call(plane, 'POST', '/v1/migrations', { to: '0099' }), 400, 'unknown_migration_version')
        .errors,
    ).toEqual([expect.objectContaining({ path: '/to' })]);
    expect(
      expectProblem(await call(plane, 'POST', '/v1/migrations', { to: 'latest' }), 400, 'validation_failed').errors,
    ).toEqual([expect.objectContaining({ path: '/to' })]);
    expect(
      expectProblem(await call(plane, 'POST', '/v1/migrations', { waves: ['10%', '50%'] }), 400, 'validation_failed')
        .errors,
    ).toEqual([expect.objectContaining({ path: '/waves' })]);
    expect(
      expectProblem(
        await call(plane, 'POST', '/v1/migrations', { waves: ['50%', '10%', '100%'] }),
        400,
        'validation_failed',
      ).errors,
    ).toEqual([expect.objectContaining({ path: '/waves' })]);
    expect(
      expectProblem(await call(plane, 'POST', '/v1/migrations', { concurrency: 0 }), 400, 'validation_failed').errors,
    ).toEqual([expect.objectContaining({ path: '/concurrency' })]);
    await writeFile(join(folder, 'notes-v2.sql'), 'select 1;');
    expectProblem(await call(plane, 'POST', '/v1/migrations', {}), 400, 'invalid_migration_set');
    await rm(join(folder, 'notes-v2.sql'));
    expectProblem(await call(plane, 'GET', '/v1/jobs/not-a-job'), 404, 'job_not_found');
    const jobs = (await call(plane, 'GET', '/v1/jobs?kind=migrate')).json().items;
    expect(jobs.length).toBe(5);
  });
});

describe('migration folder checks at start-up', () => {
  it('refuses a misnamed, duplicate or empty migration file with one line', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tenancy-migcheck-'));
    const folder = join(dataDir, 'migrations');
    const start = () =>
      startControlPlane(
        loadConfig({ dataDir, port: '0' }, { TENANCY_APP_MIGRATIONS: folder, TENANCY_LOG_LEVEL: 'silent' }),
        { inMemory: true, listen: false },
      );
    try {
      await expect(start()).rejects.toMatchObject({
        code: 'invalid_migration_set',
        detail: expect.stringContaining('cannot read the migration folder'),
      });
      await cp(EXAMPLE, folder, { recursive: true });
      await writeFile(join(folder, 'add-stuff.sql'), 'select 1;');
      await expect(start()).rejects.toMatchObject({
        code: 'invalid_migration_set',
        detail: expect.stringContaining('must be named <version>_<name>.sql'),
      });
      await rm(join(folder, 'add-stuff.sql'));
      await writeFile(join(folder, '2_again.sql'), 'select 1;');
      await expect(start()).rejects.toMatchObject({
        code: 'invalid_migration_set',
        detail: expect.stringContaining('share version'),
      });
      await rm(join(folder, '2_again.sql'));
      await writeFile(join(folder, '0003_empty.sql'), '  \n');
      await expect(start()).rejects.toMatchObject({
        code: 'invalid_migration_set',
        detail: expect.stringContaining('is empty'),
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('tenancy migrate (CLI)', () => {
  let plane: TestPlane;
  let folder: string;
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      argv,
      { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) },
      { TENANCY_URL: plane.url, TENANCY_TOKEN: ADMIN_TOKEN },
    );
    return { code, out: out.join('\n'), err };
  };

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'tenancy-migrations-cli-'));
    await cp(join(EXAMPLE, '0001_notes.sql'), join(folder, '0001_notes.sql'));
    plane = await startTestPlane('pglite', { listen: true, env: { TENANCY_APP_MIGRATIONS: folder } });
    for (const id of ['cli-a', 'cli-b', 'cli-c']) await createActive(plane, id);
  }, 60_000);
  afterAll(async () => {
    await plane?.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('waits with progress and prints per-wave and per-tenant status; a failure exits non-zero with one line', async () => {
    await cp(join(EXAMPLE, '0002_note_tags.sql'), join(folder, '0002_note_tags.sql'));
    const ok = await run('migrate', '--to', '0002', '--waves', '50%,100%', '--wait');
    expect(ok.code, ok.err.join('\n')).toBe(0);
    expect(ok.out).toMatch(/migration run \S+ started \(to 0002, waves 50%,100%\)/);
    expect(ok.out).toMatch(/succeeded: 3\/3/);
    expect(ok.out).toMatch(/^1 \(50%\)\s+2\s+2\s+0\s+0$/m);
    expect(ok.out).toContain('succeeded: 3 migrated, 0 already up to date, 0 failed, 0 not run');
    const id = /migration run (\S+) started/.exec(ok.out)![1]!;
    const job = JSON.parse((await run('get', 'job', id, '-o', 'json')).out);
    expect(job).toMatchObject({ id, state: 'succeeded', progress: { done: 3, total: 3 } });

    await writeFile(join(folder, '0003_bad.sql'), 'alter table no_such_table add column x int;\n');
    const bad = await run('migrate', '--wait');
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/cli-\w\s+1\s+failed\s+0002\s+0002\s+migration 0003_bad.sql failed/);
    expect(bad.err).toEqual([
      expect.stringMatching(
        /^tenancy: stopped after wave 1: tenant cli-\w: migration 0003_bad\.sql failed .*no_such_table/,
      ),
    ]);

    const waves = await run('migrate', '--waves', '10,x');
    expect(waves.code).toBe(2);
    expect(waves.err).toEqual(['tenancy: --waves: "x" is not a percentage (use e.g. 10%,50%,100%)']);
    const unknown = await run('migrate', '--to', '0042');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toEqual([expect.stringMatching(/^tenancy: version 0042 is not in the migration set/)]);
  });
});
