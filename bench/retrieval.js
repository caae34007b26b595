// Retrieval benchmarks (part of `npm run bench`; alone: `TENANCY_BENCH_ONLY=retrieval node bench/run.js`
// after a build). Everything goes through the control plane's HTTP API (bench/retrieval-server.js,
// its own process), on PGlite and, when TENANCY_BENCH_DATABASE_URL or TENANCY_TEST_DATABASE_URL
// is set, on PostgreSQL (a throw-away store and warehouse, tenants in schemas of the warehouse).
//  - poisoning: a generated corpus (bench/retrieval-corpus.js: about 3,000 clean pages with benign
//    hard cases, 300 questions whose answer is in exactly one page), then the attacker's pages:
//    PoisonedRAG black-box poison for 60 questions (the question verbatim, then a passage
//    asserting a wrong answer; five per question) and instruction-injection pages for 42 others.
//    Two tenants get the same pages, one with the guard off (`RetrievalPolicy` mode off), one
//    with it on (mode enforce, default settings); each is asked every question (k=5) on the clean
//    corpus and again once poisoned. Attack success: an attacked question whose top k holds an
//    adversarial chunk; recall@k: the gold page in the top k; and what ingest quarantined, clean
//    and adversarial. Where the build refuses a `RetrievalPolicy`, only the guard-off figures are
//    measured and the guard-on ones are reported as not available.
//  - speed: 100 tenants, one with 100,000 chunks (TENANCY_BENCH_RETRIEVAL_CHUNKS), the others with
//    small corpora; ingest chunks/s through the API; retrieve p50/p99 one query at a time. Beside
//    each, in the same run and the same process as the plane: the store's own SQL on the same
//    tenant's tables through the tenant session (bench/retrieval-server.js), and GET /healthz as
//    the HTTP floor.
// Settings: TENANCY_BENCH_RETRIEVAL_PARTS (poisoning,speed), TENANCY_BENCH_RETRIEVAL_ENGINES
// (pglite,postgres), TENANCY_BENCH_RETRIEVAL_CHUNKS, _TENANTS, _CHUNK_SIZE, _QUERIES, _ROUNDS,
// _CONCURRENCY.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import {
  checkPoisoningCorpus,
  INJECTION_VARIANTS,
  poisoningCorpus,
  smallCorpus,
  speedCorpus,
} from './retrieval-corpus.js';
import { freshPgDatabase, pct } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';
const admin = { authorization: `Bearer ${TOKEN}` };
const K = 5;
const PARTS = new Set((process.env.TENANCY_BENCH_RETRIEVAL_PARTS ?? 'poisoning,speed').split(','));
const ENGINES = new Set((process.env.TENANCY_BENCH_RETRIEVAL_ENGINES ?? 'pglite,postgres').split(','));
const CHUNKS = Number(process.env.TENANCY_BENCH_RETRIEVAL_CHUNKS ?? 100_000);
const TENANTS = Number(process.env.TENANCY_BENCH_RETRIEVAL_TENANTS ?? 100);
const CHUNK_SIZE = Number(process.env.TENANCY_BENCH_RETRIEVAL_CHUNK_SIZE ?? 128);
const CHUNK_OVERLAP = Math.min(16, Math.floor(CHUNK_SIZE / 8));
const QUERIES = Number(process.env.TENANCY_BENCH_RETRIEVAL_QUERIES ?? 100);
const ROUNDS = Number(process.env.TENANCY_BENCH_RETRIEVAL_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.TENANCY_BENCH_RETRIEVAL_CONCURRENCY ?? 4);
const SMALL_DOCUMENTS = 10;
const INGEST_SAMPLE_DOCUMENTS = 40;

// The performance targets for retrieval: attack success with the guard, and what it may cost.
const TARGET = { attackSuccessWithGuard: 0.05, recallDropPoints: 2 };
// "Guard on" is enforce with default settings. The form with every setting given is tried only
// if a build refuses the short one for a reason other than the kind.
const GUARD_ON = { mode: 'enforce' };
const GUARD_ON_EXPLICIT = {
  mode: 'enforce',
  minTrustScore: 0.5,
  forbiddenPatterns: [],
  allowedSources: [],
  signatureRequired: false,
  spotlighting: 'off',
};
const GUARD_OFF = { mode: 'off' };
// Pages of 80-200 words: one chunk each, as a wiki page section would be.
const POISONING_CORPUS_CONFIG = { chunkSize: 400, chunkOverlap: 50, language: 'english' };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// This machine is shared: the load average beside each part says how noisy its figures are.
const loadAverage = () => os.loadavg().map((l) => +l.toFixed(2));
const round = (x, d = 3) => +x.toFixed(d);
const ratio = (a, b) => (b > 0 ? round(a / b, 4) : null);
const stats = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  if (s.length === 0) return { n: 0 };
  return {
    n: s.length,
    p50Ms: round(pct(s, 50)),
    p99Ms: round(pct(s, 99)),
    meanMs: round(s.reduce((a, b) => a + b, 0) / s.length),
  };
};
const count = (xs, key) => {
  const out = {};
  for (const x of xs) {
    const k = key(x);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
};

// ---- the control plane -----------------------------------------------------------------------

/**
 * bench/retrieval-server.js on PGlite, or on a fresh PostgreSQL store and warehouse (tenants in
 * schemas there, roles with a run prefix, all dropped by `stop()`).
 */
async function startPlane(engine, pgUrl) {
  const cleanup = [];
  let storeUrl = '';
  const env = {};
  if (engine === 'postgres') {
    const store = await freshPgDatabase(pgUrl);
    const warehouse = await freshPgDatabase(pgUrl);
    const prefix = `b${randomBytes(3).toString('hex')}_`;
    storeUrl = store.url;
    Object.assign(env, { TENANCY_WAREHOUSE_URL: warehouse.url, TENANCY_WAREHOUSE_ROLE_PREFIX: prefix });
    // The run's tenant databases and roles, by their prefix ("_" escaped: it is a LIKE wildcard).
    const ours = `${prefix.replace('_', '\\_')}%`;
    cleanup.push(store.drop, async () => {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      for (const d of (await c.query(`select datname from pg_database where datname like $1 escape '\\'`, [ours])).rows)
        await c.query(`drop database if exists "${d.datname}" with (force)`);
      await warehouse.drop();
      for (const r of (await c.query(`select rolname from pg_roles where rolname like $1 escape '\\'`, [ours])).rows)
        await c.query(`drop role if exists "${r.rolname}"`);
      await c.end();
    });
  }
  const child = fork(new URL('./retrieval-server.js', import.meta.url), [storeUrl, JSON.stringify(env)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let ready;
  try {
    ready = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`retrieval bench server exited ${code}`)));
    });
  } catch (error) {
    for (const c of cleanup) await c().catch(() => undefined);
    throw error;
  }
  let next = 0;
  const pending = new Map();
  child.on('message', (m) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve(m.result);
  });
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`retrieval bench server exited ${code ?? signal}`));
    pending.clear();
  });
  return {
    engine,
    url: ready.url,
    pid: ready.pid,
    /** A request to the plane's process (bench/retrieval-server.js handlers). */
    call(type, payload = {}) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, type, ...payload });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      for (const c of cleanup) await c().catch((e) => console.error(`retrieval: cleanup failed: ${e.message}`));
    },
  };
}

async function api(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { ...admin, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

async function must(url, method, path, body) {
  const r = await api(url, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
  return r.body;
}

const tenantManifest = (id) => ({
  apiVersion: 'tenancy/v1',
  kind: 'Tenant',
  metadata: { id },
  spec: { name: `Bench ${id}`, plan: 'pro' },
});

/** Create `ids` in one apply bundle and wait until every one is active. */
async function createTenants(url, ids) {
  const t = performance.now();
  for (let i = 0; i < ids.length; i += 100)
    await must(url, 'POST', '/v1/apply', {
      items: ids.slice(i, i + 100).map((id) => ({ manifest: tenantManifest(id) })),
    });
  for (const id of ids)
    for (let i = 0; ; i++) {
      const tenant = await must(url, 'GET', `/v1/tenants/${id}`);
      if (tenant.status?.phase === 'active') break;
      if (i > 6000) throw new Error(`tenant ${id} is ${tenant.status?.phase}, not active`);
      await sleep(20);
    }
  return round((performance.now() - t) / 1000, 2);
}

/** Run `fn(item, i)` over `items`, at most `concurrency` at once. */
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

const ingestBody = (d) => ({
  id: d.id,
  text: d.text,
  source: d.source,
  ...(d.metadata ? { metadata: d.metadata } : {}),
});

/**
 * Ingest `docs` into the tenant's corpus, `concurrency` at once; each answer by document id. A
 * refused document is recorded (`refused: {status, code}`), not thrown: what the plane does with
 * hostile pages is part of what is measured.
 */
async function ingestAll(url, tenant, corpus, docs, concurrency) {
  const answers = new Map();
  await pool(docs, concurrency, async (d) => {
    const r = await api(url, 'POST', `/v1/tenants/${tenant}/corpora/${corpus}/documents`, ingestBody(d));
    answers.set(d.id, r.status < 300 ? r.body : { refused: { status: r.status, code: r.body?.code } });
  });
  return answers;
}

async function retrieve(url, tenant, corpus, query, k = K) {
  return must(url, 'POST', `/v1/tenants/${tenant}/retrieve`, { corpus, query, k });
}

/**
 * One request to the tenant's corpus by itself before any concurrent ones: the first request
 * makes the tenant's corpus tables, and concurrent first requests race on PostgreSQL (two
 * `create table if not exists` at once: a duplicate pg_type row, answered 500).
 */
async function prepareTenant(url, tenant, corpus) {
  await retrieve(url, tenant, corpus, 'prepare', 1);
}

// ---- the guard's policy ----------------------------------------------------------------------

const policyItem = (tenant, spec) => ({
  manifest: { apiVersion: 'tenancy/v1', kind: 'RetrievalPolicy', metadata: { tenant }, spec },
});
const kindRefused = (body) => (body?.errors ?? []).some((e) => /\/kind$/.test(e.path ?? ''));

/**
 * Apply the guard-off and guard-on policies; `{ available: true, spec }` when the build takes
 * them, else why not. A refusal of the kind means the build has no guard; any other refusal is
 * reported as it came.
 */
async function applyPolicies(url, offTenant, onTenant) {
  const first = await api(url, 'POST', '/v1/apply', {
    items: [policyItem(offTenant, GUARD_OFF), policyItem(onTenant, GUARD_ON)],
  });
  if (first.status === 200) return { available: true, onSpec: GUARD_ON, applied: first.body };
  if (first.status === 400 && kindRefused(first.body))
    return {
      available: false,
      reason: 'this build refuses the RetrievalPolicy kind (no retrieval guard yet)',
      refusal: first.body.errors,
    };
  const second = await api(url, 'POST', '/v1/apply', {
    items: [policyItem(offTenant, GUARD_OFF), policyItem(onTenant, GUARD_ON_EXPLICIT)],
  });
  if (second.status === 200) return { available: true, onSpec: GUARD_ON_EXPLICIT, applied: second.body };
  console.error(`retrieval: RetrievalPolicy refused: ${first.status} ${JSON.stringify(first.body).slice(0, 400)}`);
  return {
    available: false,
    reason: `the RetrievalPolicy was refused (${first.status}, then ${second.status} with every setting given)`,
    refusal: [first.body, second.body],
  };
}

// ---- poisoning -------------------------------------------------------------------------------

/** Ingest `docs` into the tenant's `wiki` corpus; the answers, added to `answers`, and the seconds it took. */
async function ingestPhase(url, tenant, docs, answers) {
  const t = performance.now();
  for (const [id, a] of await ingestAll(url, tenant, 'wiki', docs, CONCURRENCY)) answers.set(id, a);
  const seconds = (performance.now() - t) / 1000;
  // A document indexed at its ingest can be quarantined by a later one (a question cluster
  // marks its earlier members): what counts is the quarantine as it stands afterwards.
  let after = '';
  for (;;) {
    const page = await api(
      url,
      'GET',
      `/v1/tenants/${tenant}/corpora/wiki/quarantine?limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`,
    );
    if (page.status !== 200) break;
    for (const d of page.body.items) {
      const a = answers.get(d.id);
      if (a && a.status === 'indexed')
        answers.set(d.id, { ...a, status: 'quarantined', reasons: d.reasons, later: true });
    }
    if (!page.body.next) break;
    after = page.body.next;
  }
  const refused = docs.filter((d) => answers.get(d.id)?.refused).length;
  console.error(
    `retrieval: ${tenant}: ${docs.length} pages in ${round(seconds, 1)} s${refused ? `, ${refused} refused` : ''}`,
  );
  return seconds;
}

/** What ingest decided, for the clean pages (by category) and the attacker's (by attack). */
function ingestFigures(corpus, answers, seconds) {
  const all = [...corpus.clean, ...corpus.adversarial];
  const chunks = all.reduce((n, d) => n + (answers.get(d.id)?.chunks ?? 0), 0);
  const quarantined = (d) => answers.get(d.id)?.status === 'quarantined';
  const status = (d) => {
    const a = answers.get(d.id);
    return a?.status ?? (a?.refused ? `refused ${a.refused.status} ${a.refused.code ?? ''}`.trim() : 'missing');
  };
  const by = (docs, key) => {
    const out = {};
    for (const d of docs) {
      const k = key(d);
      out[k] ??= { documents: 0, quarantined: 0 };
      out[k].documents++;
      if (quarantined(d)) out[k].quarantined++;
    }
    return out;
  };
  const reasons = (docs) => {
    const out = {};
    for (const d of docs) for (const r of answers.get(d.id)?.reasons ?? []) out[r] = (out[r] ?? 0) + 1;
    return out;
  };
  const trust = (docs) => {
    const xs = docs.map((d) => answers.get(d.id)?.trustScore).filter((x) => typeof x === 'number');
    if (xs.length === 0) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    return { n: s.length, mean: round(s.reduce((a, b) => a + b, 0) / s.length), p10: pct(s, 10), p50: pct(s, 50) };
  };
  const injections = corpus.adversarial.filter((d) => d.attack === 'injection');
  return {
    documents: all.length,
    chunks,
    seconds: round(seconds, 1),
    documentsPerSec: round(all.length / seconds, 1),
    statuses: count(all, status),
    refused: {
      clean: corpus.clean.filter((d) => answers.get(d.id)?.refused).length,
      adversarial: corpus.adversarial.filter((d) => answers.get(d.id)?.refused).length,
      byStatus: count(
        [...corpus.clean, ...corpus.adversarial].filter((d) => answers.get(d.id)?.refused),
        status,
      ),
      injectionVariantsRefused: count(
        corpus.adversarial.filter((d) => d.attack === 'injection' && answers.get(d.id)?.refused),
        (d) => d.variant,
      ),
      examples: [...corpus.clean, ...corpus.adversarial]
        .filter((d) => answers.get(d.id)?.refused)
        .slice(0, 5)
        .map((d) => ({ id: d.id, ...answers.get(d.id).refused })),
    },
    falsePositives: {
      cleanQuarantined: corpus.clean.filter(quarantined).length,
      cleanDocuments: corpus.clean.length,
      rate: ratio(corpus.clean.filter(quarantined).length, corpus.clean.length),
      byCategory: by(corpus.clean, (d) => d.category),
      goldPagesQuarantined: corpus.qa.filter((q) => answers.get(q.gold)?.status === 'quarantined').length,
      // Quarantined or refused: not searchable either way.
      cleanNotIndexed: corpus.clean.filter((d) => answers.get(d.id)?.status !== 'indexed').length,
      examples: corpus.clean
        .filter(quarantined)
        .slice(0, 8)
        .map((d) => ({ id: d.id, category: d.category, reasons: answers.get(d.id)?.reasons })),
    },
    adversarialQuarantined: {
      total: corpus.adversarial.filter(quarantined).length,
      documents: corpus.adversarial.length,
      notIndexed: corpus.adversarial.filter((d) => answers.get(d.id)?.status !== 'indexed').length,
      byAttack: by(corpus.adversarial, (d) => d.attack),
      injectionByVariant: by(injections, (d) => d.variant),
    },
    reasons: { clean: reasons(corpus.clean), adversarial: reasons(corpus.adversarial) },
    trustScore: { clean: trust(corpus.clean), adversarial: trust(corpus.adversarial) },
  };
}

/** Ask every question of the tenant; the answers by question id and the latencies. */
async function askAll(url, tenant, corpus) {
  const answers = new Map();
  const ms = [];
  for (const q of corpus.qa) {
    const t = performance.now();
    answers.set(q.id, await retrieve(url, tenant, 'wiki', q.question));
    ms.push(performance.now() - t);
  }
  return { answers, latency: stats(ms) };
}

/** Recall@k, and on the poisoned corpus attack success, from the answers. */
function retrievalFigures(corpus, answers, { poisoned }) {
  const adversarial = new Map(corpus.adversarial.map((d) => [d.id, d]));
  const docIds = (q) => (answers.get(q.id)?.items ?? []).map((i) => i.documentId);
  const recall = (qs) => {
    const hit = qs.filter((q) => docIds(q).includes(q.gold)).length;
    return { questions: qs.length, hits: hit, recall: ratio(hit, qs.length) };
  };
  const targets = corpus.qa.filter((q) => q.target);
  const others = corpus.qa.filter((q) => !q.target);
  const reached = (q) => docIds(q).some((id) => adversarial.has(id));
  const success = (qs) => {
    const n = qs.filter(reached).length;
    return { questions: qs.length, succeeded: n, rate: ratio(n, qs.length) };
  };
  const dropped = corpus.qa.flatMap((q) => answers.get(q.id)?.dropped ?? []);
  const goldDropped = corpus.qa.filter((q) => (answers.get(q.id)?.dropped ?? []).some((d) => d.documentId === q.gold));
  const trustOf = (pred) => {
    const xs = corpus.qa.flatMap((q) =>
      (answers.get(q.id)?.items ?? [])
        .filter((i) => pred(i.documentId) && typeof i.trustScore === 'number')
        .map((i) => i.trustScore),
    );
    return xs.length === 0 ? undefined : { n: xs.length, mean: round(xs.reduce((a, b) => a + b, 0) / xs.length) };
  };
  const out = {
    k: K,
    recallAtK: {
      all: recall(corpus.qa),
      notTargeted: recall(others),
      targeted: recall(targets),
      byHome: Object.fromEntries(
        ['article', 'faq', 'install'].map((h) => [h, recall(corpus.qa.filter((q) => q.home === h))]),
      ),
    },
    emptyAnswers: corpus.qa.filter((q) => (answers.get(q.id)?.items ?? []).length === 0).length,
    dropped: {
      total: dropped.length,
      byReason: count(dropped, (d) => d.reason),
      adversarial: dropped.filter((d) => adversarial.has(d.documentId)).length,
      clean: dropped.filter((d) => !adversarial.has(d.documentId)).length,
      questionsWhoseGoldWasDropped: goldDropped.length,
    },
    trustScoreOfReturned: { clean: trustOf((id) => !adversarial.has(id)) },
  };
  if (!poisoned) return out;
  const injectionOf = new Map(corpus.adversarial.filter((d) => d.attack === 'injection').map((d) => [d.target, d]));
  const byVariant = {};
  for (const q of targets.filter((x) => x.target === 'injection')) {
    const v = injectionOf.get(q.id).variant;
    byVariant[v] ??= { questions: 0, succeeded: 0 };
    byVariant[v].questions++;
    if (reached(q)) byVariant[v].succeeded++;
  }
  const poisonInTopK = targets
    .filter((q) => q.target === 'poisonedRag')
    .map((q) => docIds(q).filter((id) => adversarial.has(id)).length);
  out.attackSuccess = {
    any: success(targets),
    poisonedRag: success(targets.filter((q) => q.target === 'poisonedRag')),
    injection: success(targets.filter((q) => q.target === 'injection')),
    injectionByVariant: byVariant,
    poisonedRagMeanChunksInTopK: round(poisonInTopK.reduce((a, b) => a + b, 0) / Math.max(1, poisonInTopK.length), 2),
    notTargetedQuestionsReachingAdversarial: success(others),
  };
  out.trustScoreOfReturned.adversarial = trustOf((id) => adversarial.has(id));
  return out;
}

/**
 * The poisoning benchmark on one engine. Each tenant gets the clean pages (then their mirrors),
 * is asked every question, then gets the attacker's pages and is asked again: recall on the
 * clean corpus is the guard's own cost, the second pass is the attack.
 */
async function poisoning(engine, pgUrl, corpus) {
  console.error(`\nretrieval: poisoning on ${engine}`);
  const plane = await startPlane(engine, pgUrl);
  const tenants = { off: 'rag-guard-off', on: 'rag-guard-on' };
  const out = { engine, loadAverageAtStart: loadAverage() };
  const started = performance.now();
  try {
    out.tenantsActiveSeconds = await createTenants(plane.url, Object.values(tenants));
    const guard = await applyPolicies(plane.url, tenants.off, tenants.on);
    out.guard = guard.available
      ? { available: true, off: GUARD_OFF, on: guard.onSpec }
      : { available: false, reason: guard.reason, refusal: guard.refusal };
    console.error(
      guard.available
        ? `retrieval: guard on in ${tenants.on} (${JSON.stringify(guard.onSpec)}), off in ${tenants.off}`
        : `retrieval: guard not available: ${guard.reason}; guard-off figures only`,
    );
    for (const pass of guard.available ? ['off', 'on'] : ['off']) {
      const tenant = tenants[pass];
      await must(plane.url, 'PUT', `/v1/tenants/${tenant}/corpora/wiki`, POISONING_CORPUS_CONFIG);
      await prepareTenant(plane.url, tenant, 'wiki');
      const answers = new Map();
      let seconds = await ingestPhase(
        plane.url,
        tenant,
        corpus.clean.filter((d) => d.category !== 'mirror'),
        answers,
      );
      seconds += await ingestPhase(
        plane.url,
        tenant,
        corpus.clean.filter((d) => d.category === 'mirror'),
        answers,
      );
      console.error(`retrieval: ${engine}: ${corpus.qa.length} questions, k=${K}, clean corpus...`);
      const clean = await askAll(plane.url, tenant, corpus);
      seconds += await ingestPhase(plane.url, tenant, corpus.adversarial, answers);
      console.error(`retrieval: ${engine}: ${corpus.qa.length} questions, k=${K}, poisoned corpus...`);
      const poisoned = await askAll(plane.url, tenant, corpus);
      out[pass === 'off' ? 'guardOff' : 'guardOn'] = {
        tenant,
        ingest: ingestFigures(corpus, answers, seconds),
        ingestAnswerFields: Object.keys([...answers.values()].find((a) => !a.refused) ?? {}),
        cleanCorpus: retrievalFigures(corpus, clean.answers, { poisoned: false }),
        poisonedCorpus: retrievalFigures(corpus, poisoned.answers, { poisoned: true }),
        retrieveLatency: { cleanCorpus: clean.latency, poisonedCorpus: poisoned.latency },
        retrieveAnswerFields: Object.keys(poisoned.answers.get(corpus.qa[0].id) ?? {}),
      };
    }
    if (!guard.available) out.guardOn = { available: false, reason: guard.reason };
    out.vsTargets = verdict(out);
    out.seconds = round((performance.now() - started) / 1000, 1);
    out.loadAverageAtEnd = loadAverage();
  } finally {
    await plane.stop();
  }
  return out;
}

function verdict(out) {
  if (!out.guardOn?.poisonedCorpus) return { measured: false, reason: out.guard.reason };
  const on = out.guardOn;
  const off = out.guardOff;
  const points = (a, b) => round((a - b) * 100, 2);
  const cleanDrop = points(off.cleanCorpus.recallAtK.all.recall, on.cleanCorpus.recallAtK.all.recall);
  const poisonedDrop = points(
    off.poisonedCorpus.recallAtK.notTargeted.recall,
    on.poisonedCorpus.recallAtK.notTargeted.recall,
  );
  return {
    attackSuccessWithGuard: {
      value: on.poisonedCorpus.attackSuccess.any.rate,
      withoutGuard: off.poisonedCorpus.attackSuccess.any.rate,
      poisonedRag: [
        off.poisonedCorpus.attackSuccess.poisonedRag.rate,
        on.poisonedCorpus.attackSuccess.poisonedRag.rate,
      ],
      injection: [off.poisonedCorpus.attackSuccess.injection.rate, on.poisonedCorpus.attackSuccess.injection.rate],
      target: `<= ${TARGET.attackSuccessWithGuard}`,
      met: on.poisonedCorpus.attackSuccess.any.rate <= TARGET.attackSuccessWithGuard,
    },
    cleanRecallDropPoints: {
      // The guard's own cost: the same clean corpus and questions, guard off against on.
      value: cleanDrop,
      // Under attack, on the questions no attack is aimed at (poison also crowds those out).
      poisonedCorpusNotTargeted: poisonedDrop,
      target: `<= ${TARGET.recallDropPoints}`,
      met: cleanDrop <= TARGET.recallDropPoints,
    },
    cleanPagesQuarantined: on.ingest.falsePositives.cleanQuarantined,
    adversarialPagesQuarantined: `${on.ingest.adversarialQuarantined.total}/${on.ingest.adversarialQuarantined.documents}`,
  };
}

// ---- speed -------------------------------------------------------------------------------------

/** The speed benchmark on one engine. */
async function speed(engine, pgUrl) {
  console.error(`\nretrieval: speed on ${engine}`);
  const plane = await startPlane(engine, pgUrl);
  const { url } = plane;
  const ids = Array.from({ length: TENANTS }, (_, i) => `kb-${String(i).padStart(3, '0')}`);
  const big = ids[0];
  const corpusConfig = { chunkSize: CHUNK_SIZE, chunkOverlap: CHUNK_OVERLAP, language: 'english' };
  const out = { engine, tenants: TENANTS, corpusConfig, concurrency: CONCURRENCY, loadAverageAtStart: loadAverage() };
  const started = performance.now();
  try {
    console.error(`retrieval: ${engine}: ${TENANTS} tenants...`);
    out.tenantsActiveSeconds = await createTenants(url, ids);
    for (const id of ids) {
      await must(url, 'PUT', `/v1/tenants/${id}/corpora/kb`, corpusConfig);
      await prepareTenant(url, id, 'kb');
    }

    // The other tenants' small corpora.
    const small = ids.slice(1).map((id, i) => ({ id, ...smallCorpus(5000 + i, SMALL_DOCUMENTS) }));
    let t = performance.now();
    let smallChunks = 0;
    await pool(
      small.flatMap((s) => s.docs.map((d) => ({ tenant: s.id, d }))),
      CONCURRENCY,
      async ({ tenant, d }) => {
        const a = await must(url, 'POST', `/v1/tenants/${tenant}/corpora/kb/documents`, ingestBody(d));
        smallChunks += a.chunks;
      },
    );
    out.smallTenants = {
      tenants: small.length,
      documentsEach: SMALL_DOCUMENTS,
      chunks: smallChunks,
      seconds: round((performance.now() - t) / 1000, 1),
    };

    // The large tenant: long pages until CHUNKS chunks.
    const sc = speedCorpus({ entities: Math.ceil(CHUNKS * 0.9) + 2000 });
    console.error(`retrieval: ${engine}: ingest ${CHUNKS} chunks into ${big} (${CONCURRENCY} at once)...`);
    let chunks = 0;
    let documents = 0;
    let bytes = 0;
    let nextDoc = 0;
    let reported = 0;
    const docMs = [];
    t = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (chunks < CHUNKS) {
          const i = nextDoc++;
          if (i >= sc.documents) throw new Error(`the speed corpus ran out at ${chunks} chunks`);
          const d = sc.document(i);
          const t0 = performance.now();
          const a = await must(url, 'POST', `/v1/tenants/${big}/corpora/kb/documents`, ingestBody(d));
          docMs.push(performance.now() - t0);
          chunks += a.chunks;
          documents++;
          bytes += Buffer.byteLength(d.text);
          if (chunks - reported >= CHUNKS / 10) {
            reported = chunks;
            console.error(`retrieval: ${engine}: ${chunks} chunks, ${round((performance.now() - t) / 1000, 1)} s`);
          }
        }
      }),
    );
    const ingestSeconds = (performance.now() - t) / 1000;
    out.ingest = {
      tenant: big,
      documents,
      chunks,
      chunksPerDocument: round(chunks / documents, 1),
      textMiB: round(bytes / 2 ** 20, 1),
      seconds: round(ingestSeconds, 1),
      chunksPerSec: Math.round(chunks / ingestSeconds),
      documentsPerSec: round(documents / ingestSeconds, 1),
      perDocument: stats(docMs),
    };
    out.tables = await plane.call('tableStats', { tenant: big });
    out.planeRssMiBAfterIngest = round((await plane.call('memory')).rssBytes / 2 ** 20, 0);

    // Queries about the large tenant's pages: through the API, and the same SQL bare, interleaved.
    const questions = sc.questions(QUERIES, documents).map((q) => q.question);
    const sqlArgs = { tenant: big, corpus: 'kb', language: 'english', k: K };
    const matches = (await plane.call('matchCounts', { ...sqlArgs, queries: questions })).sort((a, b) => a - b);
    out.queries = {
      count: questions.length,
      k: K,
      examples: questions.slice(0, 3),
      matchingChunks: { p50: pct(matches, 50), p99: pct(matches, 99), max: matches.at(-1), of: chunks },
    };
    console.error(`retrieval: ${engine}: warm-up...`);
    for (const q of questions.slice(0, 20)) await retrieve(url, big, 'kb', q);
    await plane.call('search', { ...sqlArgs, queries: questions.slice(0, 20), session: 'held' });
    const pooled = { api: [], bareSql: [], healthz: [] };
    let same = 0;
    let compared = 0;
    const runs = {
      api: async () => {
        const ms = [];
        const topK = [];
        for (const q of questions) {
          const t0 = performance.now();
          const r = await retrieve(url, big, 'kb', q);
          ms.push(performance.now() - t0);
          topK.push(r.items.map((i) => i.chunkId));
        }
        return { ms, topK };
      },
      bareSql: () => plane.call('search', { ...sqlArgs, queries: questions, session: 'held' }),
      healthz: async () => {
        const ms = [];
        for (let i = 0; i < questions.length; i++) {
          const t0 = performance.now();
          const res = await fetch(`${url}/healthz`);
          await res.text();
          ms.push(performance.now() - t0);
        }
        return { ms };
      },
    };
    const names = Object.keys(runs);
    for (let r = 0; r < ROUNDS; r++) {
      console.error(`retrieval: ${engine}: queries, round ${r + 1}/${ROUNDS}...`);
      const order = names.map((_, i) => names[(i + r) % names.length]);
      const got = {};
      for (const n of order) {
        got[n] = await runs[n]();
        pooled[n].push(...got[n].ms);
      }
      got.api.topK.forEach((ids, i) => {
        compared++;
        if (JSON.stringify(ids) === JSON.stringify(got.bareSql.results[i])) same++;
      });
    }
    const s = Object.fromEntries(Object.entries(pooled).map(([n, ms]) => [n, stats(ms)]));
    out.retrieve = {
      rounds: ROUNDS,
      api: s.api,
      bareSql: s.bareSql,
      httpFloorHealthz: s.healthz,
      sameTopKAsBareSql: `${same}/${compared}`,
      ratioToBareSql: { p50: ratio(s.api.p50Ms, s.bareSql.p50Ms), p99: ratio(s.api.p99Ms, s.bareSql.p99Ms) },
      addedOverBareSqlMs: { p50: round(s.api.p50Ms - s.bareSql.p50Ms), p99: round(s.api.p99Ms - s.bareSql.p99Ms) },
    };

    // A small tenant beside it: its own queries, through the API and bare.
    const neighbour = small[Math.floor(small.length / 2)];
    const nq = Array.from({ length: 10 }, () => neighbour.questions).flat();
    const nms = [];
    for (const q of nq) {
      const t0 = performance.now();
      await retrieve(url, neighbour.id, 'kb', q);
      nms.push(performance.now() - t0);
    }
    const nb = await plane.call('search', { ...sqlArgs, tenant: neighbour.id, queries: nq, session: 'held' });
    const ne = await plane.call('search', { ...sqlArgs, tenant: neighbour.id, queries: nq, session: 'each' });
    out.smallTenantRetrieve = {
      tenant: neighbour.id,
      documents: SMALL_DOCUMENTS,
      api: stats(nms),
      bareSql: stats(nb.ms),
      // The SQL in a tenant session of its own, as the store opens one per request.
      bareSqlSessionPerQuery: stats(ne.ms),
    };

    // Ingest beside its baseline: the same pages through the API and through the store's own
    // statements in the plane's process, each into a corpus of its own in the large tenant.
    const sample = Array.from({ length: INGEST_SAMPLE_DOCUMENTS }, (_, i) => sc.document(documents + CONCURRENCY + i));
    for (const c of ['kb-api', 'kb-bare']) await must(url, 'PUT', `/v1/tenants/${big}/corpora/${c}`, corpusConfig);
    t = performance.now();
    let apiChunks = 0;
    await pool(sample, CONCURRENCY, async (d) => {
      const a = await must(url, 'POST', `/v1/tenants/${big}/corpora/kb-api/documents`, ingestBody(d));
      apiChunks += a.chunks;
    });
    const apiMs = performance.now() - t;
    const bare = await plane.call('ingest', {
      tenant: big,
      corpus: 'kb-bare',
      language: 'english',
      chunkSize: CHUNK_SIZE,
      chunkOverlap: CHUNK_OVERLAP,
      concurrency: CONCURRENCY,
      docs: sample.map((d) => ({ id: d.id, text: d.text, source: d.source })),
    });
    out.ingestBesideBaseline = {
      documents: sample.length,
      api: { chunks: apiChunks, chunksPerSec: Math.round((apiChunks / apiMs) * 1000) },
      bareStatements: {
        chunks: bare.chunks,
        chunksPerSec: Math.round((bare.chunks / bare.ms) * 1000),
        tokenizerSplitShare: round(bare.splitMs / bare.ms, 3),
      },
      ratioToBare: ratio(apiChunks / apiMs, bare.chunks / bare.ms),
    };
    out.seconds = round((performance.now() - started) / 1000, 1);
    out.loadAverageAtEnd = loadAverage();
  } finally {
    await plane.stop();
  }
  return out;
}

// ---- the run -----------------------------------------------------------------------------------

function summary(out) {
  const lines = [];
  const pc = (x) => (x === null || x === undefined ? 'n/a' : `${round(x * 100, 1)}%`);
  const line = (p, g, label) => {
    const a = g.poisonedCorpus.attackSuccess;
    return (
      `poisoning, ${p.engine}, ${label}: attack success ${pc(a.any.rate)} (PoisonedRAG ${pc(a.poisonedRag.rate)}, ` +
      `injection ${pc(a.injection.rate)}); recall@${K} clean corpus ${pc(g.cleanCorpus.recallAtK.all.recall)}, ` +
      `poisoned ${pc(g.poisonedCorpus.recallAtK.all.recall)} (not targeted ${pc(g.poisonedCorpus.recallAtK.notTargeted.recall)}); ` +
      `quarantined clean ${g.ingest.falsePositives.cleanQuarantined}/${g.ingest.falsePositives.cleanDocuments}, ` +
      `adversarial ${g.ingest.adversarialQuarantined.total}/${g.ingest.adversarialQuarantined.documents}` +
      (g.ingest.refused.clean + g.ingest.refused.adversarial > 0
        ? `; refused at ingest: clean ${g.ingest.refused.clean}, adversarial ${g.ingest.refused.adversarial}`
        : '')
    );
  };
  for (const p of out.poisoning) {
    lines.push(line(p, p.guardOff, 'guard off'));
    if (p.guardOn?.poisonedCorpus) lines.push(line(p, p.guardOn, 'guard on'));
    else lines.push(`poisoning, ${p.engine}, guard on: not available (${p.guard.reason})`);
  }
  for (const s of out.speed)
    lines.push(
      `speed, ${s.engine}: ${s.ingest.chunks} chunks in ${s.ingest.tenant} among ${s.tenants} tenants; ingest ` +
        `${s.ingest.chunksPerSec} chunks/s (sample: ${s.ingestBesideBaseline.ratioToBare} of the bare statements); retrieve p50/p99 ` +
        `${s.retrieve.api.p50Ms}/${s.retrieve.api.p99Ms} ms, bare SQL ${s.retrieve.bareSql.p50Ms}/${s.retrieve.bareSql.p99Ms} ms ` +
        `(x${s.retrieve.ratioToBareSql.p50}/x${s.retrieve.ratioToBareSql.p99}), HTTP floor ${s.retrieve.httpFloorHealthz.p50Ms} ms p50`,
    );
  return lines;
}

/** Run the retrieval figures. Options: `pgUrl` (a PostgreSQL server for throw-away databases). */
export async function benchRetrieval(options = {}) {
  const pgUrl = options.pgUrl ?? process.env.TENANCY_BENCH_DATABASE_URL ?? process.env.TENANCY_TEST_DATABASE_URL;
  const started = performance.now();
  const engines = ['pglite', 'postgres'].filter((e) => ENGINES.has(e) && (e === 'pglite' || pgUrl));
  if (ENGINES.has('postgres') && !pgUrl) console.error('retrieval: PostgreSQL skipped: set TENANCY_BENCH_DATABASE_URL');
  const out = { k: K, loadAverageAtStart: loadAverage(), poisoning: [], speed: [] };
  if (PARTS.has('poisoning')) {
    const corpus = poisoningCorpus();
    const check = checkPoisoningCorpus(corpus);
    if (check.problems.length > 0) throw new Error(`the poisoning corpus is wrong: ${check.problems.join('; ')}`);
    const words = corpus.clean.map((d) => d.text.split(/\s+/).length).sort((a, b) => a - b);
    out.poisoningCorpus = {
      seed: corpus.seed,
      cleanDocuments: corpus.clean.length,
      byCategory: count(corpus.clean, (d) => d.category),
      mirrorEdits: count(
        corpus.clean.filter((d) => d.category === 'mirror'),
        (d) => d.edit,
      ),
      wordsPerCleanDocument: { min: words[0], p50: pct(words, 50), max: words.at(-1) },
      questions: corpus.qa.length,
      questionsByHome: count(corpus.qa, (q) => q.home),
      targetQuestions: count(
        corpus.qa.filter((q) => q.target),
        (q) => q.target,
      ),
      adversarialDocuments: corpus.adversarial.length,
      adversarialByAttack: count(corpus.adversarial, (d) => d.attack),
      injectionVariants: INJECTION_VARIANTS,
      sameValueAlsoNamedElsewhere: check.coMentions,
      chunking: POISONING_CORPUS_CONFIG,
    };
    for (const e of engines) out.poisoning.push(await poisoning(e, pgUrl, corpus));
  }
  if (PARTS.has('speed')) for (const e of engines) out.speed.push(await speed(e, pgUrl));
  out.loadAverageAtEnd = loadAverage();
  out.seconds = round((performance.now() - started) / 1000, 1);
  out.summary = summary(out);
  for (const line of out.summary) console.error(`retrieval: ${line}`);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchRetrieval(), null, 2));
