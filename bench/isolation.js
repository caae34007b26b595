// Isolation benchmarks (part of `npm run bench`; alone: `node bench/isolation.js`):
// create -> active for shared and dedicated tenants, N shared tenants provisioned end to
// end, a no-op reconcile pass and a no-op `migrate` over them, and one new migration
// across them. Baselines in the same run: the bare POST /v1/tenants (registry write only)
// for provisioning, and the per-tenant cost of a real migration for the no-op run.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../dist/config.js';
import { startControlPlane } from '../dist/control-plane.js';
import { freshPgDatabase, pct } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const N = Number(process.env.TENANCY_BENCH_TENANTS ?? 200);
const SAMPLES = Number(process.env.TENANCY_BENCH_PROVISION_SAMPLES ?? 20);

const stats = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50Ms: +pct(s, 50).toFixed(1), p99Ms: +pct(s, 99).toFixed(1) };
};

async function api(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const manifest = (id, profile = 'mt-standard') => ({
  apiVersion: 'tenancy/v1',
  kind: 'Tenant',
  metadata: { id },
  spec: { name: id, plan: 'pro', profile },
});

async function waitActive(plane, id) {
  for (;;) {
    const t = await plane.registry.get(id);
    if (t.status.phase === 'active') return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function waitJob(url, id) {
  for (;;) {
    const job = await api(url, 'GET', `/v1/jobs/${id}`);
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Run the isolation figures on one engine. */
export async function benchIsolation(engine, pgUrl) {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'tenancy-bench-iso-'));
  const migrations = join(dataDir, 'migrations');
  const prefix = `b${randomBytes(3).toString('hex')}_`;
  const cleanup = [];
  const env = {
    TENANCY_ADMIN_TOKEN: TOKEN,
    TENANCY_LOG_LEVEL: 'silent',
    TENANCY_APP_MIGRATIONS: migrations,
    TENANCY_CONTROLLER_CONCURRENCY: '4',
  };
  const { mkdirSync } = await import('node:fs');
  mkdirSync(migrations);
  copyFileSync(
    new URL('../examples/app/migrations/0001_notes.sql', import.meta.url),
    join(migrations, '0001_notes.sql'),
  );
  if (engine === 'postgres') {
    const store = await freshPgDatabase(pgUrl);
    const warehouse = await freshPgDatabase(pgUrl);
    Object.assign(env, {
      TENANCY_DATABASE_URL: store.url,
      TENANCY_WAREHOUSE_URL: warehouse.url,
      TENANCY_WAREHOUSE_ROLE_PREFIX: prefix,
    });
    cleanup.push(store.drop, async () => {
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      for (const d of (await admin.query(`select datname from pg_database where datname like '${prefix}%'`)).rows)
        await admin.query(`drop database if exists "${d.datname}" with (force)`);
      await warehouse.drop();
      for (const r of (await admin.query(`select rolname from pg_roles where rolname like '${prefix}%'`)).rows)
        await admin.query(`drop role if exists "${r.rolname}"`);
      await admin.end();
    });
  }
  const plane = await startControlPlane(loadConfig({ dataDir, port: '0' }, env), { listen: true });
  const url = plane.url;
  const out = { engine, tenants: N };
  try {
    // Warm up (opens the embedded warehouse once).
    await api(url, 'POST', '/v1/tenants', manifest('warm-up'));
    await waitActive(plane, 'warm-up');
    const post = [];
    const shared = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t = performance.now();
      await api(url, 'POST', '/v1/tenants', manifest(`s-${i}`));
      post.push(performance.now() - t);
      await waitActive(plane, `s-${i}`);
      shared.push(performance.now() - t);
    }
    const dedicated = [];
    for (let i = 0; i < Math.max(3, Math.floor(SAMPLES / 4)); i++) {
      const t = performance.now();
      await api(url, 'POST', '/v1/tenants', manifest(`d-${i}`, 'st-dedicated'));
      await waitActive(plane, `d-${i}`);
      dedicated.push(performance.now() - t);
    }
    out.createToActive = { bareCreate: stats(post), shared: stats(shared), dedicated: stats(dedicated) };
    out.createToActive.sharedP50OverBareCreate = +(
      out.createToActive.shared.p50Ms / out.createToActive.bareCreate.p50Ms
    ).toFixed(1);

    // N shared tenants end to end, created back to back.
    let t = performance.now();
    for (let i = 0; i < N; i++) await api(url, 'POST', '/v1/tenants', manifest(`n-${i}`));
    for (let i = 0; i < N; i++) await waitActive(plane, `n-${i}`);
    const bulkMs = performance.now() - t;
    out.bulkProvision = { tenants: N, totalMs: Math.round(bulkMs), tenantsPerSec: +((N / bulkMs) * 1000).toFixed(1) };

    // A no-op reconcile pass: every tenant queued, nothing to do.
    await plane.controller.idle();
    const ids = (await plane.database.db.selectFrom('tenants').select('id').execute()).map((r) => r.id);
    t = performance.now();
    for (const id of ids) plane.controller.enqueue(id);
    await plane.controller.idle();
    const passMs = performance.now() - t;
    out.noopReconcile = {
      tenants: ids.length,
      totalMs: Math.round(passMs),
      perTenantMs: +(passMs / ids.length).toFixed(3),
    };

    // One new migration across every tenant, then a no-op run.
    writeFileSync(
      join(migrations, '0002_note_tags.sql'),
      "alter table notes add column tags text[] not null default '{}';\n",
    );
    t = performance.now();
    const real = await waitJob(url, (await api(url, 'POST', '/v1/migrations', { concurrency: 4 })).id);
    const realMs = performance.now() - t;
    t = performance.now();
    const noop = await waitJob(url, (await api(url, 'POST', '/v1/migrations', {})).id);
    const noopMs = performance.now() - t;
    out.migrate = {
      tenants: real.progress.total,
      newMigration: {
        state: real.state,
        totalMs: Math.round(realMs),
        perTenantMs: +(realMs / real.progress.total).toFixed(2),
      },
      noop: { state: noop.state, totalMs: Math.round(noopMs), perTenantMs: +(noopMs / noop.progress.total).toFixed(3) },
    };
    out.migrate.noopOverNewMigration = +(noopMs / realMs).toFixed(4);

    // A profile move of a tenant holding MOVE_ROWS rows: total time and read-only window.
    const rowsToMove = Number(process.env.TENANCY_BENCH_MOVE_ROWS ?? 100_000);
    await api(url, 'POST', '/v1/tenants', manifest('mover'));
    await waitActive(plane, 'mover');
    const { isolationContext } = await import('../dist/isolation/index.js');
    const ctx = isolationContext('mover', (await plane.registry.get('mover')).spec, 'mt-standard');
    await plane.resources.databases.withTenant(ctx, (s) =>
      s.query(
        `insert into notes (title, body) select 'note ' || g, repeat('x', 100) from generate_series(1, ${rowsToMove}) g`,
      ),
    );
    t = performance.now();
    await api(url, 'PATCH', '/v1/tenants/mover', { spec: { profile: 'st-dedicated' } });
    for (;;) {
      const tenant = await plane.registry.get('mover');
      if (tenant.status.placement?.profile === 'st-dedicated' && !tenant.status.placement.movingFrom) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const moveMs = performance.now() - t;
    const job = (await api(url, 'GET', '/v1/jobs?tenant=mover&kind=move')).items[0];
    out.move = {
      rows: rowsToMove,
      from: 'mt-standard',
      to: 'st-dedicated',
      totalMs: Math.round(moveMs),
      fenceMs: job.result.fenceMs,
      verified: job.result.verified,
      rowsPerSec: Math.round((rowsToMove / moveMs) * 1000),
    };
  } finally {
    await plane.close();
    for (const c of cleanup) await c().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const pgUrl = process.env.TENANCY_BENCH_DATABASE_URL ?? process.env.TENANCY_TEST_DATABASE_URL;
  const results = {
    startedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    isolation: [],
  };
  results.isolation.push(await benchIsolation('pglite'));
  if (pgUrl) results.isolation.push(await benchIsolation('postgres', pgUrl));
  console.log(JSON.stringify(results, null, 2));
}
