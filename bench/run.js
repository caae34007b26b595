// `npm run bench`: control-plane benchmarks on PGlite and (when TENANCY_BENCH_DATABASE_URL
// or TENANCY_TEST_DATABASE_URL is set) PostgreSQL. Each figure is compared with a
// baseline measured in the same run. Results go to bench/results/<timestamp>.json.
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { benchEmbeddedCrash } from './embedded-crash.js';
import { benchGovernance } from './governance.js';
import { benchIsolation } from './isolation.js';
import { benchRetrieval } from './retrieval.js';
import { benchSlo } from './slo.js';
import { benchRouter } from './router.js';
import { benchSdk } from './sdk.js';
import { freshPgDatabase, pct, timeSequential } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';
const DURATION = Number(process.env.TENANCY_BENCH_SECONDS ?? 10);
const PG_URL = process.env.TENANCY_BENCH_DATABASE_URL ?? process.env.TENANCY_TEST_DATABASE_URL;
const auth = { authorization: `Bearer ${TOKEN}` };
// TENANCY_BENCH_ONLY=get runs just the GET-under-load figure (quick checks while tuning).
const ONLY_GET = process.env.TENANCY_BENCH_ONLY === 'get';
// TENANCY_BENCH_ONLY=keys runs just the key-ring figures.
const ONLY_KEYS = process.env.TENANCY_BENCH_ONLY === 'keys';
// TENANCY_BENCH_ONLY=isolation runs just the provisioning and migration figures.
const ONLY_ISOLATION = process.env.TENANCY_BENCH_ONLY === 'isolation';
// TENANCY_BENCH_ONLY=governance runs just the relay, webhook and policy figures (bench/governance.js).
const ONLY_GOVERNANCE = process.env.TENANCY_BENCH_ONLY === 'governance';
// TENANCY_BENCH_ONLY=sdk runs just the SDK figures (guarded route, noisy neighbour, memory).
const ONLY_SDK = process.env.TENANCY_BENCH_ONLY === 'sdk';
// TENANCY_BENCH_ONLY=audit runs just the audit append and verify figures.
const ONLY_AUDIT = process.env.TENANCY_BENCH_ONLY === 'audit';
// TENANCY_BENCH_ONLY=embedded runs just the embedded engine's provisioning and crash figures.
const ONLY_EMBEDDED = process.env.TENANCY_BENCH_ONLY === 'embedded';
// TENANCY_BENCH_ONLY=router runs just the model router figures (bench/router.js).
const ONLY_ROUTER = process.env.TENANCY_BENCH_ONLY === 'router';
// TENANCY_BENCH_ONLY=retrieval runs just the retrieval figures (bench/retrieval.js): poisoning and speed.
const ONLY_RETRIEVAL = process.env.TENANCY_BENCH_ONLY === 'retrieval';
// TENANCY_BENCH_ONLY=slo runs just the SLO figures (bench/slo.js): recording cost, status of 10,000 tenants.
const ONLY_SLO = process.env.TENANCY_BENCH_ONLY === 'slo';

function startServer(mode, databaseUrl) {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./server.js', import.meta.url), [mode, ...(databaseUrl ? [databaseUrl] : [])], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (m) => resolve({ url: m.url, child }));
    child.once('exit', (code) => reject(new Error(`bench server exited ${code}`)));
  });
}

async function stop(server) {
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
}

function load(url, headers = {}) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: 50, duration: DURATION, headers }, (err, r) => {
      if (err) return reject(err);
      resolve({
        reqPerSec: Math.round(r.requests.average),
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors,
      });
    });
  });
}

async function timeRequests(n, fn) {
  const ms = await timeSequential(n, fn);
  return {
    n,
    p50Ms: +pct(ms, 50).toFixed(3),
    p99Ms: +pct(ms, 99).toFixed(3),
    perSec: Math.round((n / ms.reduce((a, b) => a + b, 0)) * 1000),
  };
}

async function api(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const manifest = (id, i) => ({
  apiVersion: 'tenancy/v1',
  kind: 'Tenant',
  metadata: { id, labels: { tier: ['gold', 'silver', 'bronze'][i % 3] } },
  spec: { name: `Tenant ${id}`, plan: ['free', 'starter', 'pro', 'enterprise'][i % 4] },
});

async function benchEngine(engine, databaseUrl, bare) {
  console.error(`\n== ${engine}`);
  const server = await startServer('plane', databaseUrl);
  const { url } = server;
  const out = { engine };
  try {
    await api(url, 'POST', '/v1/tenants', manifest('bench-0', 0));
    await new Promise((r) => setTimeout(r, 300));
    console.error('GET /v1/tenants/{id} under load...');
    const get = await load(`${url}/v1/tenants/bench-0`, auth);
    out.getTenant = {
      ...get,
      bareReqPerSec: bare.reqPerSec,
      ratioToBare: +(get.reqPerSec / bare.reqPerSec).toFixed(3),
      addedP99Ms: +(get.p99Ms - bare.p99Ms).toFixed(2),
    };
    if (ONLY_GET) return out;

    console.error('secret reads through the API...');
    await api(url, 'PUT', '/v1/tenants/bench-0/secrets/db-password', { value: 'x'.repeat(64) });
    const secretRead = await timeRequests(500, () => api(url, 'GET', '/v1/tenants/bench-0/secrets/db-password'));
    const tenantRead = await timeRequests(500, () => api(url, 'GET', '/v1/tenants/bench-0'));
    out.secretRead = {
      ...secretRead,
      baselineGetTenantP50Ms: tenantRead.p50Ms,
      baselineGetTenantP99Ms: tenantRead.p99Ms,
    };

    console.error('POST /v1/tenants...');
    out.createTenant = await timeRequests(500, (i) => api(url, 'POST', '/v1/tenants', manifest(`create-${i}`, i)));

    console.error('seeding 10,000 tenants through /v1/apply...');
    const seedStart = performance.now();
    for (let b = 0; b < 10; b++) {
      const items = Array.from({ length: 1000 }, (_, j) => ({
        manifest: manifest(`seed-${String(b * 1000 + j).padStart(5, '0')}`, j),
      }));
      await api(url, 'POST', '/v1/apply', { items });
    }
    out.applySeed = { tenants: 10_000, bundles: 10, seconds: +((performance.now() - seedStart) / 1000).toFixed(2) };
    await new Promise((r) => setTimeout(r, 2000));
    console.error('list latency with 10,500 tenants...');
    out.listFirstPage = await timeRequests(200, () => api(url, 'GET', '/v1/tenants?limit=50'));
    let cursor = null;
    out.listDeepPage = await timeRequests(200, async () => {
      const page = await api(url, 'GET', `/v1/tenants?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      cursor = page.next;
    });
    out.listFiltered = await timeRequests(200, () =>
      api(url, 'GET', '/v1/tenants?plan=pro&labelSelector=tier%3Dgold&limit=50'),
    );

    console.error('audit verify...');
    const verify = await timeRequests(3, () => api(url, 'GET', '/v1/audit/verify'));
    const v = await api(url, 'GET', '/v1/audit/verify');
    out.auditVerify = {
      records: v.records,
      ok: v.ok,
      p50Ms: verify.p50Ms,
      recordsPerSec: Math.round(v.records / (verify.p50Ms / 1000)),
    };
  } finally {
    await stop(server);
  }
  return out;
}

async function benchAuditAppend(engine, databaseUrl) {
  // Appends inside their own writing transactions, through the same AuditLog the API uses.
  const ledger = await import('../dist/ledger/index.js');
  const { AuditLog } = ledger;
  const { loadSigningKeys } = await import('../dist/keys/index.js');
  const { openDatabase } = await import('../dist/infra/sql/index.js');
  const { FsObjectStore } = await import('../dist/infra/objects/index.js');
  const dir = `${os.tmpdir()}/tenancy-bench-audit-${randomBytes(4).toString('hex')}`;
  const keys = await loadSigningKeys(`${dir}/signing-keys.json`);
  const database = await openDatabase(databaseUrl ? { url: databaseUrl } : { dataDir: undefined });
  const audit = new AuditLog(database.db, keys);
  // Anchoring as the control plane does it (file + object store under the bench dir), where the build has it.
  const anchoring = typeof audit.startAnchoring === 'function';
  if (anchoring)
    await audit.startAnchoring({
      stores: ledger.auditAnchorStores({
        dataDir: dir,
        objects: new FsObjectStore(`${dir}/objects`),
        instance: 'bench',
      }),
    });
  const actor = { id: 'apikey:bench', correlationId: 'bench' };
  const n = 5000;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    await database.db.transaction().execute((trx) =>
      audit.append(trx, actor, {
        action: 'tenant.update',
        target: `tenant/t${i % 100}`,
        tenantId: `t${i % 100}`,
        outcome: 'success',
        details: { generation: i },
      }),
    );
  }
  const seconds = (performance.now() - t) / 1000;
  if (anchoring) await audit.close();
  // Baseline in the same run: the same transactions writing a plain row without the chain.
  await database.db.schema
    .createTable('bench_plain')
    .ifNotExists()
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('details', 'jsonb')
    .execute();
  const tb = performance.now();
  for (let i = 0; i < n; i++) {
    await database.db.transaction().execute((trx) =>
      trx
        .insertInto('bench_plain')
        .values({ details: JSON.stringify({ generation: i }) })
        .execute(),
    );
  }
  const baseSeconds = (performance.now() - tb) / 1000;
  const vt = performance.now();
  const result = await audit.verify();
  const verifySeconds = (performance.now() - vt) / 1000;
  await database.close();
  return {
    engine,
    appendsPerSec: Math.round(n / seconds),
    plainInsertTxPerSec: Math.round(n / baseSeconds),
    ratioToPlainInsert: +(n / seconds / (n / baseSeconds)).toFixed(3),
    verify: { records: result.records, ok: result.ok, recordsPerSec: Math.round(result.records / verifySeconds) },
    anchors: anchoring ? (result.anchors ?? []).map((a) => a.count) : 'n/a',
  };
}

async function benchKeys(engine, databaseUrl) {
  // Envelope encryption through the key ring vs one raw AES-256-GCM pass, same sizes, same run.
  const { AuditLog } = await import('../dist/ledger/index.js');
  const { LocalKeyRing, SecretStore, loadSigningKeys, rootKeyFrom } = await import('../dist/keys/index.js');
  const { openDatabase } = await import('../dist/infra/sql/index.js');
  const { TenantRegistry } = await import('../dist/tenants/index.js');
  const { createCipheriv, randomBytes: rb } = await import('node:crypto');
  const dir = `${os.tmpdir()}/tenancy-bench-keys-${randomBytes(4).toString('hex')}`;
  const database = await openDatabase(databaseUrl ? { url: databaseUrl } : { dataDir: undefined });
  const audit = new AuditLog(database.db, await loadSigningKeys(`${dir}/signing-keys.json`));
  const actor = { id: 'apikey:bench', correlationId: 'bench' };
  await new TenantRegistry(database.db, audit).create(actor, manifest('keys-bench', 0));
  const ring = await LocalKeyRing.open(database.db, rootKeyFrom(rb(32)));
  const out = { engine };
  for (const [label, size, n] of [
    ['1KiB', 1024, 20000],
    ['1MiB', 1024 * 1024, 200],
  ]) {
    const value = rb(size);
    await ring.encrypt('keys-bench', 'object', value);
    let t = performance.now();
    let ct;
    for (let i = 0; i < n; i++) ct = await ring.encrypt('keys-bench', 'object', value);
    const enc = n / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < n; i++) await ring.decrypt('keys-bench', 'object', ct);
    const dec = n / ((performance.now() - t) / 1000);
    const key = rb(32);
    t = performance.now();
    for (let i = 0; i < n; i++) {
      const c = createCipheriv('aes-256-gcm', key, rb(12));
      c.update(value);
      c.final();
      c.getAuthTag();
    }
    const raw = n / ((performance.now() - t) / 1000);
    out[label] = {
      encryptPerSec: Math.round(enc),
      decryptPerSec: Math.round(dec),
      encryptMiBPerSec: +((enc * size) / 2 ** 20).toFixed(1),
      rawAesGcmPerSec: Math.round(raw),
      encryptRatioToRawAesGcm: +(enc / raw).toFixed(3),
    };
  }
  const secrets = new SecretStore(database.db, ring, audit);
  for (let i = 0; i < 1000; i++) await secrets.put(actor, 'keys-bench', `s-${i}`, `value-${i}`, null);
  await ring.rotate('keys-bench');
  const t = performance.now();
  const { rewrapped } = await secrets.rewrap(actor, 'keys-bench');
  out.rewrap = { secrets: rewrapped, perSec: Math.round(rewrapped / ((performance.now() - t) / 1000)) };
  await database.close();
  return out;
}

const results = {
  keys: [],
  governance: [],
  startedAt: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  },
  durationSeconds: DURATION,
  engines: [],
  audit: [],
};
if (ONLY_SDK) {
  results.sdk = await benchSdk();
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/${results.startedAt.replace(/[:.]/g, '-')}-sdk.json`, import.meta.url);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  console.error(`\nwritten to ${file.pathname}`);
  process.exit(0);
}
if (ONLY_EMBEDDED) {
  results.embedded = await benchEmbeddedCrash();
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL(`./results/${results.startedAt.replace(/[:.]/g, '-')}-embedded.json`, import.meta.url),
    `${JSON.stringify(results, null, 2)}\n`,
  );
  console.log(JSON.stringify(results.embedded, null, 2));
  process.exit(0);
}
if (ONLY_ROUTER) {
  results.router = await benchRouter({ pgUrl: PG_URL });
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/${results.startedAt.replace(/[:.]/g, '-')}-router.json`, import.meta.url);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  console.error(`\nwritten to ${file.pathname}`);
  process.exit(0);
}
if (ONLY_RETRIEVAL) {
  results.retrieval = await benchRetrieval({ pgUrl: PG_URL });
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/${results.startedAt.replace(/[:.]/g, '-')}-retrieval.json`, import.meta.url);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  for (const line of results.retrieval.summary) console.error(`retrieval: ${line}`);
  console.error(`\nwritten to ${file.pathname}`);
  process.exit(0);
}
if (ONLY_SLO) {
  results.slo = await benchSlo({ pgUrl: PG_URL });
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/${results.startedAt.replace(/[:.]/g, '-')}-slo.json`, import.meta.url);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  console.error(`\nwritten to ${file.pathname}`);
  process.exit(0);
}
if (ONLY_AUDIT) {
  results.audit.push(await benchAuditAppend('pglite', undefined));
  if (PG_URL) {
    const db = await freshPgDatabase(PG_URL);
    try {
      results.audit.push(await benchAuditAppend('postgres', db.url));
    } finally {
      await db.drop();
    }
  }
  console.log(JSON.stringify(results.audit, null, 2));
  process.exit(0);
}
if (ONLY_GOVERNANCE) {
  results.governance.push(await benchGovernance('pglite'));
  if (PG_URL) results.governance.push(await benchGovernance('postgres', PG_URL));
}
if (!ONLY_KEYS && !ONLY_ISOLATION && !ONLY_GOVERNANCE) {
  console.error('baseline: bare Fastify JSON route...');
  const bareServer = await startServer('bare');
  results.bare = await load(`${bareServer.url}/bare`);
  await stop(bareServer);
  results.engines.push(await benchEngine('pglite', undefined, results.bare));
}
if (!ONLY_GET && !ONLY_ISOLATION && !ONLY_GOVERNANCE) {
  if (!ONLY_KEYS) results.audit.push(await benchAuditAppend('pglite', undefined));
  results.keys.push(await benchKeys('pglite', undefined));
}
if (PG_URL && !ONLY_ISOLATION && !ONLY_GOVERNANCE) {
  if (!ONLY_KEYS) {
    const db = await freshPgDatabase(PG_URL);
    try {
      results.engines.push(await benchEngine('postgres', db.url, results.bare));
    } finally {
      await db.drop();
    }
  }
  if (!ONLY_GET) {
    const db2 = await freshPgDatabase(PG_URL);
    try {
      if (!ONLY_KEYS) results.audit.push(await benchAuditAppend('postgres', db2.url));
      results.keys.push(await benchKeys('postgres', db2.url));
    } finally {
      await db2.drop();
    }
  }
} else {
  console.error('PostgreSQL benchmarks skipped: set TENANCY_BENCH_DATABASE_URL');
}
if (!ONLY_GET && !ONLY_KEYS && !ONLY_GOVERNANCE) {
  results.isolation = [await benchIsolation('pglite')];
  results.embedded = await benchEmbeddedCrash();
  if (PG_URL) results.isolation.push(await benchIsolation('postgres', PG_URL));
  results.governance.push(await benchGovernance('pglite'));
  if (PG_URL) results.governance.push(await benchGovernance('postgres', PG_URL));
}
if (!ONLY_GET && !ONLY_KEYS && !ONLY_ISOLATION) results.sdk = await benchSdk();
if (!ONLY_GET && !ONLY_KEYS && !ONLY_ISOLATION && !ONLY_GOVERNANCE)
  results.router = await benchRouter({ pgUrl: PG_URL });
if (!ONLY_GET && !ONLY_KEYS && !ONLY_ISOLATION && !ONLY_GOVERNANCE)
  results.retrieval = await benchRetrieval({ pgUrl: PG_URL });
if (!ONLY_GET && !ONLY_KEYS && !ONLY_ISOLATION && !ONLY_GOVERNANCE) results.slo = await benchSlo({ pgUrl: PG_URL });
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/${results.startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.error(`\nwritten to ${file.pathname}`);
