// The embedded engine under provisioning and after a crash: a real `tenancy serve` process on
// a data dir (PGlite store and warehouse) with the app's migrations (a table and 100 seeded
// rows per tenant) is given TENANCY_BENCH_EMBEDDED_TENANTS tenants (every third dedicated),
// killed with SIGKILL while it provisions them, and started again on the same state.
// Measured: `/healthz` and an authenticated `GET /v1/tenants/{id}` every 100 / 250 ms while
// idle (the control), while provisioning, and after the restart; the time until every tenant
// is active; the server's RSS at the end.
// TENANCY_BENCH_REPO=<checkout> runs another built checkout the same way (before/after).
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pct } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';

function serve(repo, dataDir, migrations) {
  const child = spawn(process.execPath, [join(repo, 'bin/tenancy.js'), 'serve', '--port', '0', '--data-dir', dataDir], {
    env: {
      ...process.env,
      TENANCY_ADMIN_TOKEN: TOKEN,
      TENANCY_APP_MIGRATIONS: migrations,
      TENANCY_LOG_LEVEL: 'warn',
      TENANCY_DATABASE_URL: '',
      TENANCY_WAREHOUSE_URL: '',
    },
  });
  let stderr = '';
  const url = new Promise((ok, fail) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) ok(m[1]);
    });
    child.on('exit', (code) => fail(new Error(`exited (${code}) before listening: ${stderr.slice(-1500)}`)));
  });
  url.catch(() => undefined);
  return { child, url };
}

async function api(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

const summary = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  return {
    n: s.length,
    p50Ms: +pct(s, 50).toFixed(1),
    p99Ms: +pct(s, 99).toFixed(1),
    maxMs: +s[s.length - 1].toFixed(1),
  };
};

/** Probe `/healthz` every 100 ms and a tenant read every 250 ms until stopped. */
function probe(url, tenant) {
  const health = [];
  const read = [];
  let stopped = false;
  const loop = async (into, every, fn) => {
    while (!stopped) {
      const t = performance.now();
      await fn().catch(() => undefined);
      into.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, every));
    }
  };
  loop(health, 100, () => fetch(`${url}/healthz`, { signal: AbortSignal.timeout(60_000) }));
  loop(read, 250, () => api(url, 'GET', `/v1/tenants/${tenant}`));
  return () => {
    stopped = true;
    return { healthz: summary(health), getTenant: summary(read) };
  };
}

async function phases(url) {
  const items = (await api(url, 'GET', '/v1/tenants?limit=500')).json?.items ?? [];
  const by = {};
  for (const t of items) by[t.status.phase] = (by[t.status.phase] ?? 0) + 1;
  return by;
}

async function rssMb(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /process_resident_memory_bytes (\d+)/.exec(text);
  return m ? Math.round(Number(m[1]) / 2 ** 20) : null;
}

export async function benchEmbeddedCrash(
  repo = process.env.TENANCY_BENCH_REPO ?? resolve(fileURLToPath(new URL('..', import.meta.url))),
) {
  const tenants = Number(process.env.TENANCY_BENCH_EMBEDDED_TENANTS ?? 97);
  const killAfterMs = Number(process.env.TENANCY_BENCH_EMBEDDED_KILL_AFTER_MS ?? 8_000);
  console.error(`\n== embedded engine: ${tenants} tenants, SIGKILL ${killAfterMs} ms into provisioning (${repo})`);
  const dataDir = await mkdtemp(join(tmpdir(), 'tenancy-bench-embedded-'));
  const migrations = join(dataDir, 'app-migrations');
  await mkdir(migrations);
  await cp(join(repo, 'examples/app/migrations/0001_notes.sql'), join(migrations, '0001_notes.sql'));
  await writeFile(
    join(migrations, '0002_seed.sql'),
    `insert into notes (title) select 'note ' || g from generate_series(1, 100) g;\n`,
  );
  const out = { repo, tenants, dedicated: Math.ceil(tenants / 3), killAfterMs };
  try {
    let server = serve(repo, dataDir, migrations);
    let url = await server.url;
    await api(url, 'POST', '/v1/tenants', {
      apiVersion: 'tenancy/v1',
      kind: 'Tenant',
      metadata: { id: 'probe' },
      spec: { name: 'probe', plan: 'pro' },
    });
    for (let until = Date.now() + 60_000; (await phases(url)).active !== 1 && Date.now() < until; )
      await new Promise((r) => setTimeout(r, 200));
    let stop = probe(url, 'probe');
    await new Promise((r) => setTimeout(r, 3_000));
    out.idle = stop();
    stop = probe(url, 'probe');
    for (let i = 0; i < tenants; i++) {
      await api(url, 'POST', '/v1/tenants', {
        apiVersion: 'tenancy/v1',
        kind: 'Tenant',
        metadata: { id: `t${i}` },
        spec: { name: `T${i}`, plan: 'pro', profile: i % 3 === 0 ? 'st-dedicated' : 'mt-standard' },
      });
    }
    await new Promise((r) => setTimeout(r, killAfterMs));
    out.provisioning = { ...stop(), phasesAtKill: await phases(url) };
    server.child.kill('SIGKILL');
    await new Promise((r) => server.child.once('exit', r));

    const restarted = performance.now();
    server = serve(repo, dataDir, migrations);
    url = await server.url;
    out.restartListeningMs = Math.round(performance.now() - restarted);
    stop = probe(url, 'probe');
    let converged = false;
    for (let until = Date.now() + 300_000; !converged && Date.now() < until; ) {
      converged = (await phases(url)).active === tenants + 1;
      if (!converged) await new Promise((r) => setTimeout(r, 1_000));
    }
    out.afterRestart = {
      ...stop(),
      converged,
      convergedMs: Math.round(performance.now() - restarted),
      phases: await phases(url),
      rssMiB: await rssMb(url),
    };
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  console.error(JSON.stringify(out));
  return out;
}
