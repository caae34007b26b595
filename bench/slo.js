// SLO benchmarks (part of `npm run bench`; alone: `TENANCY_BENCH_ONLY=slo node bench/run.js`).
//  - Recording cost on the request path: CPU per recorded event of the SDK's SLI recorder
//    (what the middleware adds to every admitted request) and of the control plane's, over a
//    million events spread over 10,000 tenants, beside a bare Map counter in the same run.
//  - Status of every tenant: 10,000 tenants each with an availability and a latency SLO and
//    a day of traffic in minute, hour and day buckets (written straight into the store), and
//    the time of one `sloStatuses` over all of them (the evaluator's read), on PGlite and
//    PostgreSQL; beside it, a bare `count(*)` of the same buckets in the same run.
import { sql } from 'kysely';
import { openDatabase } from '../dist/infra/sql/index.js';
import { SliRecorder } from '../dist/sdk/sli-recorder.js';
import { SliStore } from '../dist/slo/sli-store.js';
import { sloSpecSchema } from '../dist/slo/slo-schema.js';
import { sloStatuses } from '../dist/slo/slo-status.js';
import { freshPgDatabase } from './support.js';

const TENANTS = Number(process.env.TENANCY_BENCH_SLO_TENANTS ?? 10_000);
const EVENTS = 1_000_000;

function cpuPerCall(label, fn) {
  for (let i = 0; i < 100_000; i++) fn(i); // warm up
  const start = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i++) fn(i);
  const cpu = process.cpuUsage(start);
  return {
    label,
    calls: EVENTS,
    cpuUsPerCall: +((cpu.user + cpu.system) / EVENTS).toFixed(3),
    wallMs: Math.round(performance.now() - t0),
  };
}

function recordingCost() {
  const ids = Array.from({ length: TENANTS }, (_, i) => `t-${i}`);
  const bare = new Map();
  const client = { request: async () => ({}) };
  const sdk = new SliRecorder(client, { flushIntervalMs: 3_600_000 });
  const store = new SliStore(undefined, { flushIntervalMs: 3_600_000, maxPending: 10_000_000 });
  const now = Date.now();
  const out = [
    cpuPerCall('bare Map counter', (i) => {
      const k = ids[i % TENANTS];
      bare.set(k, (bare.get(k) ?? 0) + 1);
    }),
    cpuPerCall('SDK SliRecorder.record', (i) =>
      sdk.record(ids[i % TENANTS], i % 50 === 0 ? 503 : 200, (i % 400) + 3, now),
    ),
    cpuPerCall('control plane SliStore.record', (i) =>
      store.record(ids[i % TENANTS], 'router', {
        ok: i % 50 !== 0,
        latencyMs: (i % 400) + 3,
        costMicros: 120,
        at: now,
      }),
    ),
  ];
  return out;
}

async function statusAt(engine, pgUrl) {
  const pg = engine === 'postgres' ? await freshPgDatabase(pgUrl) : undefined;
  const database = await openDatabase(pg ? { url: pg.url } : { dataDir: undefined });
  try {
    const db = database.db;
    const now = Date.now();
    const minute = now - (now % 60_000);
    const hour = now - (now % 3_600_000);
    const day = now - (now % 86_400_000);
    const hist = `array(select (i * 3)::int from generate_series(1, 36) as i)`;
    const fill = async (table, step, n, base) => {
      const t0 = performance.now();
      await sql`
        insert into ${sql.table(table)} (tenant_id, source, bucket, total, errors, latency, cost, cost_micros)
        select 't-' || t, 'sdk', to_timestamp((${base}::bigint - k * ${step}::bigint) / 1000.0), 108, 1, ${sql.raw(hist)},
               ${sql.raw(hist)}, 0
          from generate_series(0, ${TENANTS - 1}) as t, generate_series(0, ${n - 1}) as k`.execute(db);
      return Math.round(performance.now() - t0);
    };
    const fillMs = {
      minutes: await fill('sli_minutes', 60_000, 60, minute),
      hours: await fill('sli_hours', 3_600_000, 24, hour),
      days: await fill('sli_days', 86_400_000, 2, day),
    };
    await sql`analyze`.execute(db);
    const defs = [];
    for (let t = 0; t < TENANTS; t++) {
      defs.push({
        tenantId: `t-${t}`,
        name: 'availability',
        spec: sloSpecSchema.parse({ objective: 'availability', target: 0.999, window: '30d' }),
      });
      defs.push({
        tenantId: `t-${t}`,
        name: 'latency',
        spec: sloSpecSchema.parse({ objective: 'latency', target: 0.95, thresholdMs: 300, window: '7d' }),
      });
    }
    const runs = [];
    let statuses = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      statuses = await sloStatuses(db, defs, now, {});
      runs.push(Math.round(performance.now() - t0));
    }
    const bare = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      for (const table of ['sli_minutes', 'sli_hours', 'sli_days'])
        await sql`select tenant_id, count(*) from ${sql.table(table)} group by tenant_id`.execute(db);
      bare.push(Math.round(performance.now() - t0));
    }
    const rows = 60 * TENANTS + 24 * TENANTS + 2 * TENANTS;
    return {
      engine,
      tenants: TENANTS,
      slos: defs.length,
      bucketRows: rows,
      fillMs,
      statusMs: runs,
      bestStatusMs: Math.min(...runs),
      bareGroupCountMs: bare,
      ratioBareToStatus: +(Math.min(...bare) / Math.min(...runs)).toFixed(2),
      sample: { sli: statuses[0]?.sli, alerts: statuses[0]?.alerts?.length },
      target: { statusMs: 1000, met: Math.min(...runs) < 1000 },
    };
  } finally {
    await database.close();
    await pg?.drop();
  }
}

export async function benchSlo({ pgUrl }) {
  const recording = recordingCost();
  console.error('slo: recording cost', JSON.stringify(recording));
  const status = [await statusAt('pglite')];
  console.error('slo: status on pglite', JSON.stringify(status[0]));
  if (pgUrl) {
    status.push(await statusAt('postgres', pgUrl));
    console.error('slo: status on postgres', JSON.stringify(status[1]));
  }
  return { recording, status };
}
