// `npm run build && node bench/retrieval-vectors.js`: retrieval latency with vectors against
// full-text search alone, on the embedded warehouse (PGlite: pgvector, and the SQL fallback)
// and (when TENANCY_BENCH_DATABASE_URL or TENANCY_TEST_DATABASE_URL is set) a PostgreSQL
// warehouse (pgvector if the server has it, else the SQL fallback). Results go to bench/results/retrieval-vectors-<timestamp>.json.
//
// One tenant, one corpus of TENANCY_BENCH_CHUNKS chunks (default 3,000) in documents of 50
// pre-chunked chunks, each with a vector of TENANCY_BENCH_DIMENSIONS (default 384); a second
// corpus of the same texts without vectors for the ingest baseline. The answer cache is off.
// Figures (sequential, p50/p99 of TENANCY_BENCH_QUERIES queries, default 50; lexical and
// hybrid alternate query by query, so a shared machine's noise falls on both alike):
// - lexical: POST /retrieve without a vector (full-text search only) on the corpus with vectors;
// - hybrid: the same queries with a vector (full-text + vector top-N fused);
// - ingest: a 50-chunk document with vectors vs without.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { loadConfig, startControlPlane } from '../dist/index.js';
import { isolationContext } from '../dist/isolation/index.js';
import { freshPgDatabase, pct } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';
const PG_URL = process.env.TENANCY_BENCH_DATABASE_URL ?? process.env.TENANCY_TEST_DATABASE_URL;
const CHUNKS = Number(process.env.TENANCY_BENCH_CHUNKS ?? 3_000);
const DIMENSIONS = Number(process.env.TENANCY_BENCH_DIMENSIONS ?? 384);
const QUERIES = Number(process.env.TENANCY_BENCH_QUERIES ?? 50);
const PER_DOC = 50;
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/** A seeded PRNG (mulberry32), so every engine gets the same corpus and queries. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = Array.from({ length: 2_000 }, (_, i) => `w${i.toString(36)}x`);
const words = (rand, n) => Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
const vector = (rand) => Array.from({ length: DIMENSIONS }, () => rand() * 2 - 1);

async function run(label, engine, databaseUrl, options = {}) {
  // On PostgreSQL, store and warehouse (where the corpora live) are databases of their own.
  const dataDir = mkdtempSync(join(os.tmpdir(), 'tenancy-bench-vec-'));
  const config = loadConfig(
    { port: '0', host: '127.0.0.1', dataDir },
    {
      TENANCY_ADMIN_TOKEN: TOKEN,
      TENANCY_LOG_LEVEL: 'silent',
      TENANCY_RETRIEVAL_CACHE: 'off',
      ...(databaseUrl ? { TENANCY_DATABASE_URL: databaseUrl } : {}),
      ...(options.warehouseUrl ? { TENANCY_WAREHOUSE_URL: options.warehouseUrl } : {}),
    },
  );
  const plane = await startControlPlane(config, {
    inMemory: engine === 'pglite',
    listen: false,
    controllerResyncMs: 3_600_000,
  });
  const inject = async (method, url, body) => {
    const res = await plane.app.inject({ method, url, headers: auth, payload: body && JSON.stringify(body) });
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  try {
    await inject('POST', '/v1/tenants', {
      apiVersion: 'tenancy/v1',
      kind: 'Tenant',
      metadata: { id: 'bench-vec' },
      spec: { name: 'bench', plan: 'pro' },
    });
    for (;;) {
      await plane.controller.idle();
      if ((await inject('GET', '/v1/tenants/bench-vec')).status.phase === 'active') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    if (options.withoutPgvector) {
      // Measuring the fallback on PGlite: take pgvector's schema away from tenant roles. PGlite
      // lets SQL reset to its superuser (the reason isolation there is the application's).
      const tenant = await plane.registry.get('bench-vec');
      const ctx = isolationContext('bench-vec', tenant.spec, tenant.status.placement?.profile);
      await plane.resources.databases.withTenant(ctx, (s) =>
        s.exec('reset role; revoke usage on schema tenancy_vector from public'),
      );
    }
    await inject('PUT', '/v1/tenants/bench-vec/corpora/vec', { embedding: { dimensions: DIMENSIONS } });
    await inject('PUT', '/v1/tenants/bench-vec/corpora/lex', {});
    const rand = prng(42);
    const ingestVec = [];
    const ingestLex = [];
    for (let d = 0; d < CHUNKS / PER_DOC; d++) {
      const chunks = Array.from({ length: PER_DOC }, () => ({ text: words(rand, 60), embedding: vector(rand) }));
      const doc = { id: `doc-${d}`, source: { uri: `https://bench.example/${d}` } };
      let t = performance.now();
      await inject('POST', '/v1/tenants/bench-vec/corpora/vec/documents', { ...doc, chunks });
      ingestVec.push(performance.now() - t);
      t = performance.now();
      await inject('POST', '/v1/tenants/bench-vec/corpora/lex/documents', {
        ...doc,
        chunks: chunks.map((c) => ({ text: c.text })),
      });
      ingestLex.push(performance.now() - t);
    }
    const qrand = prng(7);
    const queries = Array.from({ length: QUERIES }, () => ({ query: words(qrand, 3), vector: vector(qrand) }));
    const ask = (i, withVector) =>
      inject('POST', '/v1/tenants/bench-vec/retrieve', {
        corpus: 'vec',
        query: queries[i].query,
        k: 10,
        ...(withVector ? { vector: queries[i].vector } : {}),
      });
    const probe = await ask(0, true);
    // Warm both paths once.
    await ask(0, false);
    const summary = (ms) => {
      const s = [...ms].sort((a, b) => a - b);
      return { n: s.length, p50Ms: +pct(s, 50).toFixed(2), p99Ms: +pct(s, 99).toFixed(2) };
    };
    const lexicalMs = [];
    const hybridMs = [];
    for (let i = 0; i < QUERIES; i++) {
      let t = performance.now();
      await ask(i, false);
      lexicalMs.push(performance.now() - t);
      t = performance.now();
      await ask(i, true);
      hybridMs.push(performance.now() - t);
    }
    const lexical = summary(lexicalMs);
    const hybrid = summary(hybridMs);
    return {
      label,
      engine,
      ranking: probe.ranking,
      chunks: CHUNKS,
      dimensions: DIMENSIONS,
      retrieveLexical: lexical,
      retrieveHybrid: hybrid,
      ingest50ChunksWithVectors: summary(ingestVec),
      ingest50ChunksLexical: summary(ingestLex),
    };
  } finally {
    await plane.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const results = [];
results.push(await run('pglite', 'pglite'));
results.push(await run('pglite-sql-fallback', 'pglite', undefined, { withoutPgvector: true }));
if (PG_URL) {
  const db = await freshPgDatabase(PG_URL);
  const warehouse = await freshPgDatabase(PG_URL);
  try {
    results.push(await run('postgres', 'postgres', db.url, { warehouseUrl: warehouse.url }));
  } finally {
    await db.drop();
    await warehouse.drop();
  }
}
const out = {
  at: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  loadavg: os.loadavg(),
  results,
};
console.log(JSON.stringify(out, null, 2));
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL(`./results/retrieval-vectors-${out.at.replace(/[:.]/g, '-')}.json`, import.meta.url),
  JSON.stringify(out, null, 2),
);
