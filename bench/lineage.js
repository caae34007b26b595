// `npm run build && node bench/lineage.js`: lineage, drift and approval figures on PGlite and (when
// TENANCY_BENCH_DATABASE_URL or TENANCY_TEST_DATABASE_URL is set) PostgreSQL, each with a
// baseline from the same run. Results go to bench/results/lineage-<timestamp>.json.
//
// - lineage ingest: POST /v1/tenants/{id}/lineage in batches of 1,000 (validated, audited,
//   evented) vs a bare INSERT of the same rows;
// - lineage export: GET .../lineage/export (JSON Lines, streamed) of every record;
// - drift map: GET /v1/governance/drift over 200 tenants vs GET /v1/tenants of the same page;
// - a PATCH that waits for approval (202) vs a plain PATCH.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { loadConfig, startControlPlane } from '../dist/index.js';
import { freshPgDatabase, pct, timeSequential } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';
const PG_URL = process.env.TENANCY_BENCH_DATABASE_URL ?? process.env.TENANCY_TEST_DATABASE_URL;
const RECORDS = Number(process.env.TENANCY_BENCH_LINEAGE_RECORDS ?? 20_000);
const TENANTS = 200;
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

async function time(n, fn) {
  const ms = await timeSequential(n, fn);
  return {
    n,
    p50Ms: +pct(ms, 50).toFixed(2),
    p99Ms: +pct(ms, 99).toFixed(2),
    totalMs: +ms.reduce((a, b) => a + b, 0).toFixed(1),
  };
}

const record = (i) => ({
  domain: `d${i % 5}`,
  usecase: 'faq',
  sourceId: `src-${i}`,
  queryId: `q-${i}`,
  chunkId: `c-${i}`,
  trustScore: (i % 100) / 100,
  agentId: 'agent-1',
  policyVersion: '1.0.0',
  timestamp: new Date(Date.now() - (i % 30) * 86_400_000).toISOString(),
});

async function run(engine, databaseUrl) {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'tenancy-bench-gov-'));
  const config = loadConfig(
    { port: '0', host: '127.0.0.1', dataDir },
    {
      TENANCY_ADMIN_TOKEN: TOKEN,
      TENANCY_LOG_LEVEL: 'silent',
      ...(databaseUrl ? { TENANCY_DATABASE_URL: databaseUrl } : {}),
    },
  );
  const plane = await startControlPlane(config, {
    inMemory: engine === 'pglite',
    listen: false,
    controllerResyncMs: 3_600_000,
  });
  const inject = (method, url, body) =>
    plane.app.inject({
      method,
      url,
      headers: body === undefined ? { authorization: auth.authorization } : auth,
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
  try {
    for (let i = 0; i < TENANTS; i++) {
      const res = await inject('POST', '/v1/tenants', {
        apiVersion: 'tenancy/v1',
        kind: 'Tenant',
        metadata: { id: `gov-${String(i).padStart(4, '0')}` },
        spec: { name: `Gov ${i}`, plan: 'pro', governance: { approvals: { require: ['featureEnable'] } } },
      });
      if (res.statusCode !== 201) throw new Error(res.body);
    }
    await plane.controller.idle();
    const out = { engine, records: RECORDS, tenants: TENANTS };

    // Lineage ingest: API batches vs bare INSERT of the same rows (another tenant, same table).
    const batches = RECORDS / 1000;
    const api = await time(batches, async (b) => {
      const res = await inject('POST', '/v1/tenants/gov-0000/lineage', {
        records: Array.from({ length: 1000 }, (_, i) => record(b * 1000 + i)),
      });
      if (res.statusCode !== 201) throw new Error(res.body);
    });
    const bare = await time(batches, async (b) => {
      const rows = Array.from({ length: 1000 }, (_, i) => {
        const r = record(b * 1000 + i);
        return {
          id: randomUUID(),
          tenant_id: 'gov-0001',
          domain: r.domain,
          usecase: r.usecase,
          source_id: r.sourceId,
          query_id: r.queryId,
          chunk_id: r.chunkId,
          trust_score: r.trustScore,
          agent_id: r.agentId,
          policy_version: r.policyVersion,
          ts: r.timestamp,
          recorded_at: new Date().toISOString(),
          recorded_by: 'bench',
        };
      });
      await plane.database.db.transaction().execute(async (trx) => {
        for (let i = 0; i < rows.length; i += 200)
          await trx
            .insertInto('lineage_records')
            .values(rows.slice(i, i + 200))
            .execute();
      });
    });
    out.lineageIngest = {
      api: { ...api, recordsPerSec: Math.round((RECORDS / api.totalMs) * 1000) },
      bareInsert: { ...bare, recordsPerSec: Math.round((RECORDS / bare.totalMs) * 1000) },
      ratio: +(bare.totalMs / api.totalMs).toFixed(2),
    };

    // Export: every record of one tenant as JSON Lines.
    const t0 = performance.now();
    const exp = await inject('GET', '/v1/tenants/gov-0000/lineage/export');
    const exportMs = performance.now() - t0;
    const lines = exp.body.trimEnd().split('\n').length;
    if (lines !== RECORDS) throw new Error(`export returned ${lines} lines`);
    out.lineageExport = {
      records: lines,
      ms: +exportMs.toFixed(1),
      recordsPerSec: Math.round((lines / exportMs) * 1000),
      bytes: exp.rawPayload.length,
    };

    // Drift map over 200 tenants vs listing the same 200 tenants.
    const drift = await time(20, async () => {
      const res = await inject('GET', `/v1/governance/drift?limit=${TENANTS}`);
      if (res.statusCode !== 200) throw new Error(res.body);
    });
    const list = await time(20, async () => {
      const res = await inject('GET', `/v1/tenants?limit=${TENANTS}`);
      if (res.statusCode !== 200) throw new Error(res.body);
    });
    out.driftMap = { drift, listTenants: list };

    // A PATCH that becomes a pending approval vs a plain PATCH.
    const gated = await time(100, async (i) => {
      const res = await inject('PATCH', `/v1/tenants/gov-${String(2 + (i % 100)).padStart(4, '0')}`, {
        spec: { features: { [`f${i}`]: true } },
      });
      if (res.statusCode !== 202) throw new Error(res.body);
    });
    const plain = await time(100, async (i) => {
      const res = await inject('PATCH', `/v1/tenants/gov-${String(2 + (i % 100)).padStart(4, '0')}`, {
        spec: { name: `renamed ${i}` },
      });
      if (res.statusCode !== 200) throw new Error(res.body);
    });
    out.approvalPatch = { pendingApproval: gated, plainPatch: plain };
    return out;
  } finally {
    await plane.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const results = { at: new Date().toISOString(), node: process.version, cpus: os.cpus().length, runs: [] };
results.runs.push(await run('pglite'));
if (PG_URL) {
  const db = await freshPgDatabase(PG_URL);
  try {
    results.runs.push(await run('postgres', db.url));
  } finally {
    await db.drop();
  }
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/lineage-${results.at.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(JSON.stringify(results, null, 2));
