// `npm run bench:usage`: usage-meter figures on PGlite and (when TENANCY_BENCH_DATABASE_URL
// or TENANCY_TEST_DATABASE_URL is set) PostgreSQL, each with a baseline from the same run:
//
// - ingestion: batches of 1,000 new meters through UsageStore.record (raw insert, hourly and
//   daily rollups, audit), against the same rows bulk-inserted into a bare table;
// - repeats: the same batches again (every meter a duplicate: nothing rolled up);
// - the SDK recorder's per-request cost (UsageMeter.request) against an empty call.
//
// Results go to bench/results/usage-<timestamp>.json.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { loadConfig, startControlPlane } from '../dist/index.js';
import { TenancyClient, UsageMeter } from '../dist/sdk/index.js';
import { freshPgDatabase, pct } from './support.js';

const PG_URL = process.env.TENANCY_BENCH_DATABASE_URL ?? process.env.TENANCY_TEST_DATABASE_URL;
const BATCHES = Number(process.env.TENANCY_BENCH_USAGE_BATCHES ?? 30);
const TENANTS = 10;
const ACTOR = { id: 'bench', correlationId: null };

function summary(ms, meters) {
  const sorted = [...ms].sort((a, b) => a - b);
  const total = ms.reduce((a, b) => a + b, 0);
  return {
    batches: ms.length,
    metersPerSec: Math.round((meters / total) * 1000),
    batchP50Ms: +pct(sorted, 50).toFixed(2),
    batchP99Ms: +pct(sorted, 99).toFixed(2),
  };
}

async function benchIngest(engine, databaseUrl) {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'tenancy-bench-usage-'));
  const config = loadConfig(
    { port: '0', host: '127.0.0.1', dataDir },
    {
      TENANCY_ADMIN_TOKEN: 'bench-admin-token-0123456789',
      TENANCY_LOG_LEVEL: 'silent',
      TENANCY_USAGE_PRICES: '{"requests": 0.000002}',
      ...(databaseUrl ? { TENANCY_DATABASE_URL: databaseUrl } : {}),
    },
  );
  const plane = await startControlPlane(config, {
    logger: false,
    inMemory: !databaseUrl,
    listen: false,
    manualSampler: true,
  });
  try {
    const db = plane.database.db;
    const tenants = Array.from({ length: TENANTS }, (_, i) => `bench-u${i}`);
    for (const id of tenants)
      await plane.registry.create(ACTOR, {
        apiVersion: 'tenancy/v1',
        kind: 'Tenant',
        metadata: { id },
        spec: { name: id, plan: 'pro' },
      });
    const now = Date.now();
    const batches = Array.from({ length: BATCHES }, (_, b) =>
      Array.from({ length: 1000 }, (_, i) => ({
        tenantId: tenants[i % TENANTS],
        id: `b${b}-m${i}`,
        resource: i % 3 === 0 ? 'tokens_in' : 'requests',
        amount: 1 + (i % 7),
        ts: new Date(now - (i % 48) * 3_600_000).toISOString(),
      })),
    );
    await sql`create table bench_bare (tenant_id text, id text, resource text, amount numeric, ts timestamptz, primary key (tenant_id, id))`.execute(
      db,
    );
    const bare = [];
    for (const batch of batches) {
      const rows = batch.map((m) => ({
        tenant_id: m.tenantId,
        id: m.id,
        resource: m.resource,
        amount: String(m.amount),
        ts: m.ts,
      }));
      const t = performance.now();
      await sql`insert into bench_bare select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(tenant_id text, id text, resource text, amount numeric, ts timestamptz)`.execute(
        db,
      );
      bare.push(performance.now() - t);
    }
    const record = async () => {
      const ms = [];
      for (const batch of batches) {
        const t = performance.now();
        await plane.usage.record(ACTOR, batch, 'bench');
        ms.push(performance.now() - t);
      }
      return ms;
    };
    const fresh = await record();
    const repeats = await record();
    const rollups = await db
      .selectFrom('usage_rollups')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return {
      engine,
      meters: BATCHES * 1000,
      tenants: TENANTS,
      rollupRows: Number(rollups.n),
      bareInsert: summary(bare, BATCHES * 1000),
      ingest: summary(fresh, BATCHES * 1000),
      repeats: summary(repeats, BATCHES * 1000),
    };
  } finally {
    await plane.close();
  }
}

function benchRecorder() {
  const meter = new UsageMeter(new TenancyClient({ url: 'http://127.0.0.1:9', token: 'unused' }), {});
  const tenants = Array.from({ length: 1000 }, (_, i) => `tenant-${i}`);
  let sink = 0;
  const empty = (id) => {
    sink += id.length;
  };
  const time = (fn, n) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(tenants[i % tenants.length]);
    return Number(process.hrtime.bigint() - t) / n;
  };
  const N = 2_000_000;
  time(empty, N);
  time((id) => meter.request(id), N);
  const baselineNs = time(empty, N);
  const requestNs = time((id) => meter.request(id), N);
  return {
    calls: N,
    tenants: tenants.length,
    emptyCallNs: +baselineNs.toFixed(1),
    usageRequestNs: +requestNs.toFixed(1),
    aggregates: meter.stats().aggregated,
    sink,
  };
}

const results = {
  startedAt: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
  engines: [],
  recorder: benchRecorder(),
};
console.log('recorder', JSON.stringify(results.recorder));
results.engines.push(await benchIngest('pglite', undefined));
console.log(JSON.stringify(results.engines.at(-1)));
if (PG_URL) {
  const db = await freshPgDatabase(PG_URL);
  try {
    results.engines.push(await benchIngest('postgres', db.url));
    console.log(JSON.stringify(results.engines.at(-1)));
  } finally {
    await db.drop();
  }
} else {
  console.warn('TENANCY_BENCH_DATABASE_URL / TENANCY_TEST_DATABASE_URL not set: PostgreSQL skipped');
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/usage-${results.startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(`written ${file.pathname}`);
