// The control plane for the retrieval benchmarks (bench/retrieval.js), in its own process like
// bench/server.js, with the baselines run beside it in the same process: the store's own
// full-text SQL and ingest statements on a tenant's tables, through the warehouse's tenant
// session (as the tenant's role, in its schema), with no HTTP, authentication, corpus lookup,
// audit or JSON around them. Arguments: the store's database URL ('' for PGlite), and JSON of
// extra environment settings (the PostgreSQL warehouse). Requests come over IPC.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, startControlPlane } from '../dist/index.js';
import { isolationContext } from '../dist/isolation/index.js';
import { chunkText } from '../dist/retrieval/document-text.js';

const [databaseUrl, extraEnv] = process.argv.slice(2);

// The search the store runs (src/retrieval/retrieval-store.ts, RetrievalStore.retrieve), as it is
// in the build this bench was written against: any of the query's stemmed words, ranked by
// ts_rank_cd over the GIN index, only indexed documents, metadata filter.
const SEARCH_SQL = `select c.document_id, c.seq, c.text, ts_rank_cd(c.tsv, q.q)::float8 as score,
                d.source_uri, d.content_sha256, d.signature, d.ingested_at
           from tenancy_corpus_chunks c
           join tenancy_corpus_documents d on d.corpus = c.corpus and d.id = c.document_id,
                (select coalesce(string_agg(quote_literal(l), ' | '), '')::tsquery
                   from unnest(tsvector_to_array(to_tsvector($2::regconfig, $3))) as l) as q(q)
          where c.corpus = $1 and c.tsv @@ q.q and d.status = 'indexed' and d.metadata @> $4::jsonb
          order by score desc, c.document_id, c.seq
          limit $5`;

// How many chunks a query matches (what ts_rank_cd has to rank), not timed.
const MATCH_COUNT_SQL = `select count(*)::int as n
           from tenancy_corpus_chunks c,
                (select coalesce(string_agg(quote_literal(l), ' | '), '')::tsquery
                   from unnest(tsvector_to_array(to_tsvector($2::regconfig, $3))) as l) as q(q)
          where c.corpus = $1 and c.tsv @@ q.q`;

// The store's ingest statements (RetrievalStore.ingest), one transaction per document.
const INSERT_DOCUMENT_SQL = `insert into tenancy_corpus_documents (corpus, id, content_sha256, source_uri, signature, metadata, chunks)
         values ($1, $2, $3, $4, $5, $6::jsonb, $7)`;
const INSERT_CHUNKS_SQL = `insert into tenancy_corpus_chunks (corpus, document_id, seq, text, tsv)
         select $1, $2, n::int, t, to_tsvector($3::regconfig, t) from unnest($4::text[]) with ordinality as u(t, n)`;

const dataDir = mkdtempSync(join(tmpdir(), 'tenancy-bench-retrieval-'));
const config = loadConfig(
  { port: '0', host: '127.0.0.1', dataDir },
  {
    TENANCY_ADMIN_TOKEN: 'bench-admin-token-0123456789',
    TENANCY_LOG_LEVEL: 'silent',
    ...(databaseUrl ? { TENANCY_DATABASE_URL: databaseUrl } : {}),
    ...(extraEnv ? JSON.parse(extraEnv) : {}),
  },
);
// TENANCY_BENCH_LOG_LEVEL (error, warn, …) shows the plane's log on stderr, to see why a request failed.
const logLevel = process.env.TENANCY_BENCH_LOG_LEVEL;
const plane = await startControlPlane(config, { logger: logLevel ? { level: logLevel } : false });

async function inTenant(tenantId, fn) {
  const tenant = await plane.registry.get(tenantId);
  const ctx = isolationContext(tenantId, tenant.spec, tenant.status.placement?.profile);
  return plane.resources.databases.withTenant(ctx, fn);
}

const searchParams = (m, query) => [m.corpus, m.language, query, '{}', m.k];

/** Run `fn(item)` over `items` with at most `concurrency` at once. */
async function pool(items, concurrency, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

const handlers = {
  /**
   * The search SQL for each query, timed one statement at a time: in one tenant session held
   * for the whole batch (`session: 'held'`, the bare query), or a session per query (`'each'`,
   * as the store opens one per request).
   */
  async search(m) {
    const ms = [];
    const results = [];
    const one = async (s, q) => {
      const t = performance.now();
      const rows = await s.query(SEARCH_SQL, searchParams(m, q));
      ms.push(performance.now() - t);
      results.push(rows.map((r) => `${r.document_id}#${r.seq}`));
    };
    if (m.session === 'each') {
      for (const q of m.queries) {
        const t = performance.now();
        await inTenant(m.tenant, async (s) => {
          const rows = await s.query(SEARCH_SQL, searchParams(m, q));
          results.push(rows.map((r) => `${r.document_id}#${r.seq}`));
        });
        ms.push(performance.now() - t);
      }
    } else
      await inTenant(m.tenant, async (s) => {
        for (const q of m.queries) await one(s, q);
      });
    return { ms, results };
  },

  /** How many chunks each query matches. */
  async matchCounts(m) {
    return inTenant(m.tenant, async (s) => {
      const out = [];
      for (const q of m.queries) out.push((await s.query(MATCH_COUNT_SQL, [m.corpus, m.language, q]))[0].n);
      return out;
    });
  },

  /**
   * The store's ingest statements for `docs` into `corpus` (which the caller created), one
   * transaction per document, `concurrency` at once; the tokenizer's split is timed apart.
   */
  async ingest(m) {
    let chunks = 0;
    let splitMs = 0;
    const t = performance.now();
    await pool(m.docs, m.concurrency, async (d) => {
      const s0 = performance.now();
      const pieces = chunkText(d.text, m.chunkSize, m.chunkOverlap);
      splitMs += performance.now() - s0;
      await inTenant(m.tenant, async (s) => {
        await s.query(INSERT_DOCUMENT_SQL, [m.corpus, d.id, 'bench', d.source.uri, null, '{}', pieces.length]);
        await s.query(INSERT_CHUNKS_SQL, [m.corpus, d.id, m.language, pieces]);
      });
      chunks += pieces.length;
    });
    return { documents: m.docs.length, chunks, ms: performance.now() - t, splitMs };
  },

  /** Rows and on-disk size of the tenant's corpus tables. */
  async tableStats(m) {
    return inTenant(m.tenant, async (s) => {
      const [row] = await s.query(
        `select (select count(*)::int from tenancy_corpus_documents) as documents,
                (select count(*)::int from tenancy_corpus_chunks) as chunks,
                pg_total_relation_size('tenancy_corpus_chunks')::float8 as chunk_bytes,
                pg_relation_size('tenancy_corpus_chunks_tsv')::float8 as gin_bytes`,
      );
      return row;
    });
  },

  async memory() {
    return { rssBytes: process.memoryUsage().rss };
  },
};

process.on('message', async (m) => {
  try {
    process.send({ id: m.id, result: await handlers[m.type](m) });
  } catch (error) {
    process.send({ id: m.id, error: error?.stack ?? String(error) });
  }
});
process.on('SIGTERM', () =>
  plane.close().then(() => {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  }),
);
process.send({ url: plane.url, pid: process.pid });
