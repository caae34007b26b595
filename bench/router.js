// Model router benchmarks (part of `npm run bench`; alone: `TENANCY_BENCH_ONLY=router node bench/run.js`).
// Every figure is against controls from the same run, on the same upstream:
//  - overhead: a local OpenAI-compatible upstream (bench/router-upstream.js) called directly;
//    through a bare Node proxy (bench/router-proxy.js, the floor: one more HTTP hop and nothing
//    else); through Tenancy's gateway with a tenant key, without a budget and with a daily budget
//    (every call holds and settles in the ledger); and through Portkey's open-source gateway.
//    At a fixed 500 calls/s: p50/p99 of each, what each adds to the direct call, and each
//    gateway's CPU per call; one call at a time (interleaved): the added latency with no
//    queueing; unbounded (autocannon, 32 connections): each one's req/s against direct; and
//    streams at a fixed 100/s: time to the first SSE byte;
//  - budget race: 200 calls at once against a daily budget that holds exactly 20 worst cases;
//    what was served and refused, the most held at once, the overspend, and the next call.
// PGlite always; PostgreSQL when TENANCY_BENCH_DATABASE_URL or TENANCY_TEST_DATABASE_URL is
// set; the Redis ledger when Redis answers (TENANCY_BENCH_REDIS_URL, TENANCY_TEST_REDIS_URL,
// default redis://127.0.0.1:6379). With `taskset` and two cores or more, every gateway runs on
// core 0 and the upstream and the load generator on core 1, so a gateway does not share its
// core with the load it is measured by.
// TENANCY_BENCH_PROF_DIR=<dir> writes a CPU profile of each Tenancy server (node --cpu-prof);
// bench/cpuprofile-summary.js reads it.
import { execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { Pool } from 'undici';
import { freshPgDatabase, pct } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';
const admin = { authorization: `Bearer ${TOKEN}` };
const DURATION = Number(process.env.TENANCY_BENCH_SECONDS ?? 10);
// Alternating rounds (TENANCY_BENCH_ROUTER_ROUNDS): each target gets DURATION seconds in all, in
// turns, so drift of the machine hits every target alike.
const ROUNDS = Number(process.env.TENANCY_BENCH_ROUTER_ROUNDS ?? 5);
const RATE = Number(process.env.TENANCY_BENCH_ROUTER_RATE ?? 500);
const STREAM_RATE = Number(process.env.TENANCY_BENCH_ROUTER_STREAM_RATE ?? 100);
const MAX_CONNECTIONS = 32;
const MAX_SECONDS = Number(process.env.TENANCY_BENCH_ROUTER_MAX_SECONDS ?? 5);
// TENANCY_BENCH_ROUTER_ENGINES (pglite,postgres,redis) and TENANCY_BENCH_ROUTER_GATEWAYS
// (bareProxy,tenancy,tenancyBudget,portkey) narrow the run, for quick checks and profiles.
const ENGINES = new Set((process.env.TENANCY_BENCH_ROUTER_ENGINES ?? 'pglite,postgres,redis').split(','));
const GATEWAYS = (process.env.TENANCY_BENCH_ROUTER_GATEWAYS ?? 'bareProxy,tenancy,tenancyBudget,portkey').split(',');
// TENANCY_BENCH_ROUTER_RACE=0 leaves the budget race out.
const RACE = process.env.TENANCY_BENCH_ROUTER_RACE !== '0';
// TENANCY_BENCH_ROUTER_STREAMS=0 leaves the streaming figure out.
const STREAMS = process.env.TENANCY_BENCH_ROUTER_STREAMS !== '0';
// Sequential calls per target (TENANCY_BENCH_ROUTER_SEQUENTIAL), interleaved.
const SEQUENTIAL_CALLS = Number(process.env.TENANCY_BENCH_ROUTER_SEQUENTIAL ?? 1000);
const RACE_CALLS = 200;
const RACE_FIT = 20;
const RACE_MAX_TOKENS = 100;
const CLOCK_TICKS = 100; // USER_HZ of /proc/<pid>/stat on Linux

// The project's performance targets for the gateway, checked in the results.
const TARGET = { addedP50Ms: 0.5, addedP99Ms: 2, ratioToDirect: 0.8 };

const stats = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50Ms: +pct(s, 50).toFixed(3), p99Ms: +pct(s, 99).toFixed(3) };
};
const round3 = (x) => +x.toFixed(3);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Whether processes can be pinned: `taskset` and at least two cores. */
function canPin() {
  if (os.cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const PIN = canPin();
const GATEWAY_CORE = '0';
const LOAD_CORE = '1';

/** A Node child with IPC, pinned to `core` when pinning is possible. */
function nodeChild(script, args, core, { execArgv = [], stdio = ['ignore', 'inherit', 'inherit', 'ipc'], env } = {}) {
  const path = new URL(script, import.meta.url).pathname;
  if (!PIN) return fork(path, args, { execArgv, stdio, env });
  return spawn('taskset', ['-c', core, process.execPath, ...execArgv, path, ...args], { stdio, env });
}

function firstMessage(child, what) {
  return new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${what} exited ${code}`)));
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** CPU time (user + system, ms) a process has used so far (Linux /proc; undefined elsewhere). */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Whether a Redis server answers PING at `url`. */
function redisAnswers(url) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const socket = connect({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(5000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

// ---- the processes ----------------------------------------------------------------------

async function startUpstream() {
  const child = nodeChild('./router-upstream.js', [], LOAD_CORE);
  const m = await firstMessage(child, 'upstream');
  return { ...m, child };
}

async function startLoad() {
  const child = nodeChild('./router-load.js', [], LOAD_CORE);
  await firstMessage(child, 'load generator');
  let next = 0;
  const pending = new Map();
  child.on('message', (m) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve(m.result);
  });
  return {
    child,
    run(type, job) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, type, job });
      });
    },
  };
}

/** The floor: a bare Node proxy to the upstream (bench/router-proxy.js), on core 0. */
async function startProxy(upstreamUrl) {
  const child = nodeChild('./router-proxy.js', [upstreamUrl], GATEWAY_CORE);
  const m = await firstMessage(child, 'bare proxy');
  return { url: m.url, child };
}

/** The control plane (bench/server.js) with the router's settings, on core 0. */
async function startPlane(databaseUrl, env) {
  const profDir = process.env.TENANCY_BENCH_PROF_DIR;
  const execArgv = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const child = nodeChild('./server.js', ['plane', databaseUrl ?? '', JSON.stringify(env)], GATEWAY_CORE, {
    execArgv,
  });
  const m = await firstMessage(child, 'bench server');
  return { url: m.url, child };
}

/** The version of package `name`, from the nearest package.json above one of its files. */
function packageVersion(file, name) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (pkg.name === name) return pkg.version;
    } catch {
      // no package.json here
    }
  }
  return undefined;
}

/**
 * Portkey's gateway as its package starts it (`build/start-server.js --port=<p> --headless`,
 * the `start:node` script), on core 0 like Tenancy's; `shim` preloads bench/router-portkey-shim.js,
 * without which its streams fail as installed (Portkey-AI/gateway#1389).
 */
async function startPortkey({ shim = false } = {}) {
  const require = createRequire(import.meta.url);
  const script = require.resolve('@portkey-ai/gateway/build/start-server.js');
  const version = JSON.parse(readFileSync(require.resolve('@portkey-ai/gateway/package.json'), 'utf8')).version;
  const honoNodeServer = packageVersion(createRequire(script).resolve('@hono/node-server'), '@hono/node-server');
  const port = await freePort();
  const preload = shim ? ['--import', new URL('./router-portkey-shim.js', import.meta.url).pathname] : [];
  const args = [...preload, script, `--port=${port}`, '--headless'];
  const child = PIN
    ? spawn('taskset', ['-c', GATEWAY_CORE, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`Portkey's gateway exited ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${url}/`);
      if ((await res.text()).includes('AI Gateway'))
        return { url, child, version, honoNodeServer, stderr: () => stderr };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`Portkey's gateway did not start: ${stderr}`);
}

// ---- the control plane's setup, through its API ----------------------------------------

async function api(url, method, path, body, headers = admin) {
  const res = await fetch(url + path, {
    method,
    headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? undefined : res.json();
}

const tenantManifest = (id) => ({
  apiVersion: 'tenancy/v1',
  kind: 'Tenant',
  metadata: { id },
  spec: { name: `Bench ${id}`, plan: 'pro', profile: 'mt-standard', region: 'eu-west-1' },
});

const model = (name, inputUsdPerMTok, outputUsdPerMTok) => ({
  name,
  upstreamModel: 'upstream-model',
  inputUsdPerMTok,
  outputUsdPerMTok,
  contextWindow: 128000,
});

/**
 * The upstream key, the tenants (unique per run: the Redis ledger outlives a server), the
 * providers and the routers; a tenant key for each tenant.
 */
async function setUp(plane, upstreamUrl) {
  const run = randomBytes(3).toString('hex');
  const ids = {
    plain: `bench-ai-${run}`,
    budget: `bench-ai-budget-${run}`,
    raceExact: `race-exact-${run}`,
    raceDefault: `race-default-${run}`,
  };
  await api(plane.url, 'PUT', '/v1/platform-secrets/upstream-key', { value: 'sk-bench' });
  for (const id of Object.values(ids)) await api(plane.url, 'POST', '/v1/tenants', tenantManifest(id));
  for (const id of Object.values(ids)) {
    for (let i = 0; ; i++) {
      const t = await api(plane.url, 'GET', `/v1/tenants/${id}`);
      if (t.status?.phase === 'active') break;
      if (i > 300) throw new Error(`tenant ${id} is ${t.status?.phase}, not active`);
      await sleep(50);
    }
  }
  const provider = (name, models) => ({
    manifest: {
      apiVersion: 'tenancy/v1',
      kind: 'ModelProvider',
      metadata: { name },
      spec: {
        type: 'openai-compatible',
        baseUrl: `${upstreamUrl}/v1`,
        apiKeySecret: 'upstream-key',
        region: 'eu-west-1',
        models,
      },
    },
  });
  const router = (tenant, spec) => ({
    manifest: { apiVersion: 'tenancy/v1', kind: 'TenantRouter', metadata: { tenant }, spec },
  });
  const raceWorstUsd = raceWorstMicros() / 1e6;
  // RACE_FIT worst cases fit and not one more (half a hold to spare, so that the RACE_FIT-th
  // does not reach the threshold); the threshold at 100% with `deny`, so only the budget
  // refuses. The second race tenant keeps the default threshold (80%, downgrade to a fallback
  // it does not have), as a tenant that sets just `dailyUsd` has it.
  const raceExactUsd = +(RACE_FIT * raceWorstUsd + raceWorstUsd / 2).toFixed(6);
  const raceDefaultUsd = +(RACE_FIT * raceWorstUsd).toFixed(6);
  await api(plane.url, 'POST', '/v1/apply', {
    items: [
      provider('local', [model('bench-model', 1, 2)]),
      provider('race', [model('race-model', 0, 1000)]),
      router(ids.plain, { primary: { model: 'bench-model' } }),
      router(ids.budget, { primary: { model: 'bench-model' }, budget: { dailyUsd: 1_000_000 } }),
      router(ids.raceExact, {
        primary: { model: 'race-model' },
        budget: { dailyUsd: raceExactUsd, circuitBreaker: { threshold: 1, action: 'deny' } },
      }),
      router(ids.raceDefault, { primary: { model: 'race-model' }, budget: { dailyUsd: raceDefaultUsd } }),
    ],
  });
  const keys = {};
  for (const [k, id] of Object.entries(ids))
    keys[k] = (await api(plane.url, 'POST', `/v1/tenants/${id}/api-keys`, { name: 'app', role: 'operator' })).token;
  return { ids, keys, raceExactUsd, raceDefaultUsd };
}

/**
 * The router's hold for one race call: no input price, (ceil(1.1 * max_tokens) + 16) output
 * tokens at $1000/MTok, computed as the router does (1.1 * 100 is 110.00000000000001 in
 * floating point, so 127 tokens).
 */
function raceWorstMicros() {
  return (Math.ceil(RACE_MAX_TOKENS * 1.1) + 16) * 1000;
}

// ---- targets and their correctness -------------------------------------------------------

const chatBody = (m, extra = {}) =>
  JSON.stringify({ model: m, messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 16, ...extra });

function targets(upstream, plane, tenancy, { proxy, portkey, portkeyShimmed }) {
  const json = { 'content-type': 'application/json' };
  const out = {
    direct: {
      url: upstream.url,
      path: '/v1/chat/completions',
      headers: { ...json, authorization: 'Bearer sk-bench' },
      model: 'upstream-model',
    },
  };
  if (proxy) out.bareProxy = { ...out.direct, url: proxy.url, pid: proxy.child.pid };
  if (plane) {
    out.tenancy = {
      url: plane.url,
      path: '/v1/ai/chat/completions',
      headers: { ...json, authorization: `Bearer ${tenancy.keys.plain}` },
      model: 'bench-model',
      pid: plane.child.pid,
    };
    out.tenancyBudget = { ...out.tenancy, headers: { ...json, authorization: `Bearer ${tenancy.keys.budget}` } };
  }
  for (const [name, p] of [
    ['portkey', portkey],
    ['portkeyShimmed', portkeyShimmed],
  ])
    if (p)
      out[name] = {
        url: p.url,
        path: '/v1/chat/completions',
        headers: {
          ...json,
          authorization: 'Bearer sk-bench',
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': `${upstream.url}/v1`,
        },
        model: 'upstream-model',
        pid: p.child.pid,
      };
  return out;
}

/** One plain call through `t`: the upstream's text and usage must come back. */
async function checkPlain(name, t, upstream) {
  const res = await fetch(t.url + t.path, { method: 'POST', headers: t.headers, body: chatBody(t.model) });
  const body = await res.json();
  const content = body.choices?.[0]?.message?.content;
  if (
    res.status !== 200 ||
    content !== upstream.content ||
    body.usage?.completion_tokens !== upstream.usage.completion_tokens
  )
    throw new Error(`${name}: unexpected answer ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return { model: body.model, content, usage: body.usage };
}

/** One streamed call through `t`: the same text and usage in chunks, ending with `[DONE]`; the failure, if any. */
async function checkStream(name, t, upstream) {
  const s = await fetch(t.url + t.path, {
    method: 'POST',
    headers: t.headers,
    body: chatBody(t.model, { stream: true, stream_options: { include_usage: true } }),
  });
  const text = await s.text();
  const events = text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6));
  if (s.status !== 200 || events.at(-1) !== '[DONE]')
    return { ok: false, failure: `${name}: ${s.status} ${text.slice(0, 200)}` };
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  const streamed = chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
  const usage = chunks.find((c) => c.usage)?.usage;
  if (streamed !== upstream.content || usage?.completion_tokens !== upstream.usage.completion_tokens)
    return {
      ok: false,
      failure: `${name}: text or usage differs: ${JSON.stringify(streamed)} ${JSON.stringify(usage)}`,
    };
  return { ok: true, events: events.length };
}

// ---- measurements ----------------------------------------------------------------------

const job = (t, extra) => ({ url: t.url, path: t.path, headers: t.headers, ...extra });

/** Each target at RATE/s, in alternating rounds; latencies pooled per target, the gateway's CPU per call. */
async function fixedRate(load, ts) {
  const names = Object.keys(ts);
  const seconds = Math.max(1, DURATION / ROUNDS);
  const pooled = Object.fromEntries(names.map((n) => [n, { ms: [], statuses: {}, errors: 0, cpuMs: 0, calls: 0 }]));
  for (const n of names) await load.run('paced', job(ts[n], { body: chatBody(ts[n].model), rate: RATE, seconds: 1 }));
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of names) {
      const t = ts[n];
      const before = t.pid ? cpuMs(t.pid) : undefined;
      const x = await load.run('paced', job(t, { body: chatBody(t.model), rate: RATE, seconds }));
      const after = t.pid ? cpuMs(t.pid) : undefined;
      const p = pooled[n];
      p.ms.push(...x.ms);
      p.errors += x.errors;
      p.sentPerSec = Math.min(p.sentPerSec ?? Number.POSITIVE_INFINITY, x.sentPerSec);
      for (const [s, c] of Object.entries(x.statuses)) p.statuses[s] = (p.statuses[s] ?? 0) + c;
      if (before !== undefined && after !== undefined) p.cpuMs += after - before;
      p.calls += x.ms.length;
    }
  }
  const direct = stats(pooled.direct.ms);
  const out = { ratePerSec: RATE, rounds: ROUNDS, secondsPerTarget: seconds * ROUNDS };
  for (const n of names) {
    const p = pooled[n];
    const s = stats(p.ms);
    out[n] = {
      ...s,
      statuses: p.statuses,
      errors: p.errors,
      lowestSentPerSec: p.sentPerSec,
      ...(n === 'direct'
        ? {}
        : { addedP50Ms: round3(s.p50Ms - direct.p50Ms), addedP99Ms: round3(s.p99Ms - direct.p99Ms) }),
      ...(ts[n].pid && p.calls > 0 ? { gatewayCpuUsPerCall: +((p.cpuMs * 1000) / p.calls).toFixed(1) } : {}),
    };
  }
  return out;
}

/** One request at a time, the targets interleaved: what each adds with no queueing at all. */
async function sequentialLatency(load, ts) {
  const names = Object.keys(ts);
  const n = SEQUENTIAL_CALLS;
  const x = await load.run('sequential', {
    n,
    targets: names.map((k) => job(ts[k], { body: chatBody(ts[k].model) })),
  });
  const out = { calls: n };
  const direct = stats(x.ms[names.indexOf('direct')]);
  names.forEach((k, i) => {
    const s = stats(x.ms[i]);
    out[k] = {
      ...s,
      statuses: x.statuses[i],
      ...(k === 'direct'
        ? {}
        : { addedP50Ms: round3(s.p50Ms - direct.p50Ms), addedP99Ms: round3(s.p99Ms - direct.p99Ms) }),
    };
  });
  return out;
}

/** Each target unbounded (autocannon, MAX_CONNECTIONS connections); req/s against direct. */
async function maxThroughput(load, ts) {
  const out = { connections: MAX_CONNECTIONS, seconds: MAX_SECONDS };
  for (const [n, t] of Object.entries(ts)) {
    await load.run('max', job(t, { body: chatBody(t.model), connections: MAX_CONNECTIONS, seconds: 1 }));
    out[n] = await load.run(
      'max',
      job(t, { body: chatBody(t.model), connections: MAX_CONNECTIONS, seconds: MAX_SECONDS }),
    );
  }
  for (const n of Object.keys(ts))
    if (n !== 'direct') out[n].ratioToDirect = round3(out[n].reqPerSec / out.direct.reqPerSec);
  return out;
}

/** Streams at STREAM_RATE/s: time to the first SSE byte and to `[DONE]`. */
async function streaming(load, ts) {
  const names = Object.keys(ts);
  const seconds = Math.max(1, DURATION / ROUNDS);
  const body = (t) => chatBody(t.model, { stream: true, stream_options: { include_usage: true } });
  const pooled = Object.fromEntries(
    names.map((n) => [n, { ttft: [], total: [], statuses: {}, errors: 0, unfinished: 0 }]),
  );
  for (const n of names) await load.run('stream', job(ts[n], { body: body(ts[n]), rate: STREAM_RATE, seconds: 1 }));
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of names) {
      const x = await load.run('stream', job(ts[n], { body: body(ts[n]), rate: STREAM_RATE, seconds }));
      const p = pooled[n];
      p.ttft.push(...x.ttftMs);
      p.total.push(...x.totalMs);
      p.errors += x.errors;
      p.unfinished += x.unfinished;
      for (const [s, c] of Object.entries(x.statuses)) p.statuses[s] = (p.statuses[s] ?? 0) + c;
    }
  }
  const out = { ratePerSec: STREAM_RATE, rounds: ROUNDS, secondsPerTarget: seconds * ROUNDS };
  const direct = stats(pooled.direct.ttft);
  for (const n of names) {
    const p = pooled[n];
    const ttft = stats(p.ttft);
    const total = stats(p.total);
    out[n] = {
      n: ttft.n,
      ttftP50Ms: ttft.p50Ms,
      ttftP99Ms: ttft.p99Ms,
      totalP50Ms: total.p50Ms,
      totalP99Ms: total.p99Ms,
      statuses: p.statuses,
      errors: p.errors,
      unfinished: p.unfinished,
      ...(n === 'direct'
        ? {}
        : { addedTtftP50Ms: round3(ttft.p50Ms - direct.p50Ms), addedTtftP99Ms: round3(ttft.p99Ms - direct.p99Ms) }),
    };
  }
  return out;
}

/** The day window of a tenant's router status, in micro-dollars. */
async function dayWindow(url, tenantId) {
  const s = await api(url, 'GET', `/v1/tenants/${tenantId}/router`);
  const w = s.budget.windows.find((x) => x.window === 'day');
  return {
    limitMicros: Math.round(w.limitUsd * 1e6),
    spentMicros: Math.round(w.spentUsd * 1e6),
    reservedMicros: Math.round(w.reservedUsd * 1e6),
  };
}

/**
 * RACE_CALLS calls at once (connections opened first, the requests sent in one tick) against
 * a tenant whose daily budget holds RACE_FIT worst cases. While they run, the router status is
 * read in a loop for the most ever held and spent at once.
 */
async function budgetRace(plane, tenantId, key, upstream) {
  const pool = new Pool(plane.url, { connections: RACE_CALLS, pipelining: 1 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  try {
    // Open every connection first, so the race is of requests, not of TCP handshakes.
    await Promise.all(
      Array.from({ length: RACE_CALLS }, async () => {
        const res = await pool.request({ path: '/v1/ai/models', method: 'GET', headers });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`race warm-up: ${res.statusCode}`);
      }),
    );
    const before = await dayWindow(plane.url, tenantId);
    let racing = true;
    let maxHeld = 0;
    let maxCommitted = 0;
    let samples = 0;
    const sampler = (async () => {
      while (racing) {
        const w = await dayWindow(plane.url, tenantId);
        samples++;
        maxHeld = Math.max(maxHeld, w.reservedMicros);
        maxCommitted = Math.max(maxCommitted, w.spentMicros + w.reservedMicros);
      }
    })();
    const body = chatBody('race-model', { max_tokens: RACE_MAX_TOKENS });
    const call = async () => {
      const res = await pool.request({ path: '/v1/ai/chat/completions', method: 'POST', headers, body });
      const text = await res.body.text();
      let code = null;
      let content = null;
      try {
        const j = JSON.parse(text);
        code = j.error?.code ?? null;
        content = j.choices?.[0]?.message?.content ?? null;
      } catch {
        // not JSON
      }
      return { status: res.statusCode, code, ok: res.statusCode === 200 && content === upstream.content };
    };
    const t = performance.now();
    const answers = await Promise.all(Array.from({ length: RACE_CALLS }, call));
    const raceMs = performance.now() - t;
    racing = false;
    await sampler;
    // Every hold settled: nothing held, spent as served.
    let after = await dayWindow(plane.url, tenantId);
    for (let i = 0; i < 100 && after.reservedMicros > 0; i++) {
      await sleep(50);
      after = await dayWindow(plane.url, tenantId);
    }
    // One more call once every hold has settled, with most of the budget left.
    const next = await call();
    const status = await api(plane.url, 'GET', `/v1/tenants/${tenantId}/router`);
    const outcomes = {};
    for (const a of answers) {
      const k = `${a.status}${a.code ? ` ${a.code}` : ''}`;
      outcomes[k] = (outcomes[k] ?? 0) + 1;
    }
    const served = answers.filter((a) => a.ok).length;
    const actualMicros = upstream.usage.completion_tokens * 1000;
    const worst = raceWorstMicros();
    return {
      calls: RACE_CALLS,
      worstCaseUsd: worst / 1e6,
      actualCostUsd: actualMicros / 1e6,
      limitUsd: after.limitMicros / 1e6,
      worstCasesThatFit: Math.floor(after.limitMicros / worst),
      served,
      refusedBudget: answers.filter((a) => a.status === 429 && a.code === 'budget_exhausted').length,
      outcomes,
      raceMs: Math.round(raceMs),
      spentUsd: after.spentMicros / 1e6,
      reservedUsd: after.reservedMicros / 1e6,
      spentBeforeUsd: before.spentMicros / 1e6,
      spentMatchesServed: after.spentMicros - before.spentMicros === served * actualMicros,
      overspendUsd: Math.max(0, after.spentMicros - after.limitMicros) / 1e6,
      statusSamples: samples,
      maxHeldAtOnceUsd: maxHeld / 1e6,
      maxHoldsAtOnce: Math.round(maxHeld / worst),
      maxSpentPlusHeldUsd: maxCommitted / 1e6,
      spentPlusHeldNeverOverLimit: maxCommitted <= after.limitMicros,
      nextCallAfterSettling: {
        status: next.status,
        code: next.code,
        remainingUsd: status.budget.windows.find((w) => w.window === 'day')?.remainingUsd,
        downgraded: status.budget.downgraded,
      },
    };
  } finally {
    await pool.close();
  }
}

function verdict(fixed, max, gateway) {
  const g = fixed[gateway];
  const m = max[gateway];
  const p = fixed.portkey;
  return {
    addedP50Ms: { value: g.addedP50Ms, target: `< ${TARGET.addedP50Ms}`, met: g.addedP50Ms < TARGET.addedP50Ms },
    addedP99Ms: { value: g.addedP99Ms, target: `< ${TARGET.addedP99Ms}`, met: g.addedP99Ms < TARGET.addedP99Ms },
    ratioToDirect: {
      value: m.ratioToDirect,
      target: `>= ${TARGET.ratioToDirect}`,
      met: m.ratioToDirect >= TARGET.ratioToDirect,
    },
    ...(p
      ? {
          lessThanPortkey: {
            addedP50Ms: [g.addedP50Ms, p.addedP50Ms],
            addedP99Ms: [g.addedP99Ms, p.addedP99Ms],
            ratioToDirect: [m.ratioToDirect, max.portkey.ratioToDirect],
            met:
              g.addedP50Ms < p.addedP50Ms && g.addedP99Ms < p.addedP99Ms && m.ratioToDirect > max.portkey.ratioToDirect,
          },
        }
      : {}),
    ...(fixed.bareProxy
      ? {
          // The floor: what one more HTTP hop through the least a Node process can do adds here.
          floorBareProxy: {
            addedP50Ms: fixed.bareProxy.addedP50Ms,
            addedP99Ms: fixed.bareProxy.addedP99Ms,
            ratioToDirect: max.bareProxy.ratioToDirect,
            gatewayCpuUsPerCall: fixed.bareProxy.gatewayCpuUsPerCall,
          },
          aboveFloor: {
            addedP50Ms: round3(g.addedP50Ms - fixed.bareProxy.addedP50Ms),
            addedP99Ms: round3(g.addedP99Ms - fixed.bareProxy.addedP99Ms),
            ...(g.gatewayCpuUsPerCall !== undefined && fixed.bareProxy.gatewayCpuUsPerCall !== undefined
              ? { gatewayCpuUsPerCall: +(g.gatewayCpuUsPerCall - fixed.bareProxy.gatewayCpuUsPerCall).toFixed(1) }
              : {}),
          },
        }
      : {}),
  };
}

/** One control plane: overhead figures for `gateways` (names of targets()), the budget races. */
async function engineRun(label, databaseUrl, env, ctx, { gateways, streams }) {
  console.error(`\nrouter: ${label}`);
  const plane = await startPlane(databaseUrl, {
    TENANCY_ROUTER_ALLOW_PRIVATE: 'true',
    TENANCY_ROUTER_LEDGER: 'store',
    ...env,
  });
  const out = { engine: label };
  try {
    const tenancy = await setUp(plane, ctx.upstream.url);
    const all = targets(ctx.upstream, plane, tenancy, ctx);
    const ts = Object.fromEntries(['direct', ...gateways].map((n) => [n, all[n]]));
    out.checked = {};
    for (const [n, t] of Object.entries(ts)) out.checked[n] = { plain: await checkPlain(n, t, ctx.upstream) };
    console.error(`router: ${label}: ${RATE}/s through ${Object.keys(ts).join(', ')} (${ROUNDS} rounds)...`);
    out.fixedRate = await fixedRate(ctx.load, ts);
    console.error(`router: ${label}: one call at a time, ${SEQUENTIAL_CALLS} per target...`);
    out.sequential = await sequentialLatency(ctx.load, ts);
    console.error(`router: ${label}: unbounded, ${MAX_CONNECTIONS} connections...`);
    out.maxThroughput = await maxThroughput(ctx.load, ts);
    out.vsTargets = {};
    for (const g of gateways.filter((n) => n.startsWith('tenancy')))
      out.vsTargets[g] = verdict(out.fixedRate, out.maxThroughput, g);
    if (streams) {
      console.error(`router: ${label}: streams at ${STREAM_RATE}/s...`);
      // Portkey as installed fails every stream (see startPortkey); its streams are measured on
      // the shimmed instance, and the failure is recorded.
      out.streamChecks = {};
      const st = {};
      for (const n of ['direct', 'bareProxy', 'tenancy', 'portkey', 'portkeyShimmed']) {
        if (!all[n]) continue;
        out.streamChecks[n] = await checkStream(n, all[n], ctx.upstream);
        if (n === 'portkeyShimmed') out.streamChecks[n].plain = await checkPlain(n, all[n], ctx.upstream);
        if (out.streamChecks[n].ok) st[n] = all[n];
        else if (n !== 'portkey') throw new Error(out.streamChecks[n].failure);
      }
      out.streaming = await streaming(ctx.load, st);
    }
    if (!RACE) return out;
    console.error(`router: ${label}: budget race, ${RACE_CALLS} calls at once...`);
    out.budgetRace = await budgetRace(plane, tenancy.ids.raceExact, tenancy.keys.raceExact, ctx.upstream);
    out.budgetRaceDefaultThreshold = await budgetRace(
      plane,
      tenancy.ids.raceDefault,
      tenancy.keys.raceDefault,
      ctx.upstream,
    );
  } finally {
    await stopChild(plane.child);
  }
  return out;
}

/**
 * Run the model router figures. Options: `pgUrl` (a PostgreSQL server to make a throw-away
 * database on), `redisUrl` (the Redis ledger, when it answers).
 */
export async function benchRouter(options = {}) {
  const pgUrl = options.pgUrl ?? process.env.TENANCY_BENCH_DATABASE_URL ?? process.env.TENANCY_TEST_DATABASE_URL;
  const redisUrl =
    options.redisUrl ??
    process.env.TENANCY_BENCH_REDIS_URL ??
    process.env.TENANCY_TEST_REDIS_URL ??
    'redis://127.0.0.1:6379';
  const redis = (await redisAnswers(redisUrl)) ? redisUrl : undefined;
  const upstream = await startUpstream();
  const load = await startLoad();
  let proxy;
  let portkey;
  let portkeyShimmed;
  const out = {
    layout: PIN
      ? {
          gateways: `core ${GATEWAY_CORE}`,
          upstream: `core ${LOAD_CORE}`,
          loadGenerator: `core ${LOAD_CORE}`,
          pinnedWith: 'taskset',
        }
      : { pinned: false, cpus: os.cpus().length },
    loadAverageAtStart: os.loadavg().map((l) => +l.toFixed(2)),
    upstream: { completion: upstream.content, usage: upstream.usage },
    engines: [],
  };
  try {
    proxy = await startProxy(upstream.url);
    portkey = await startPortkey();
    portkeyShimmed = await startPortkey({ shim: true });
    out.portkey = {
      version: portkey.version,
      honoNodeServer: portkey.honoNodeServer,
      started: 'node node_modules/@portkey-ai/gateway/build/start-server.js --port=<port> --headless',
      headers: {
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': '<upstream>/v1',
        authorization: 'Bearer <upstream key>',
      },
      streams:
        'as installed, every stream fails (500, TypeError: immutable, Portkey-AI/gateway#1389); streams are measured ' +
        'on a second instance started with --import bench/router-portkey-shim.js (fetch answers with mutable headers)',
    };
    const ctx = { upstream, load, proxy, portkey, portkeyShimmed };
    const gateways = GATEWAYS;
    if (ENGINES.has('pglite'))
      out.engines.push(await engineRun('pglite', undefined, {}, ctx, { gateways, streams: STREAMS }));
    if (pgUrl && ENGINES.has('postgres')) {
      const db = await freshPgDatabase(pgUrl);
      try {
        out.engines.push(await engineRun('postgres', db.url, {}, ctx, { gateways, streams: false }));
      } finally {
        await db.drop();
      }
    } else if (ENGINES.has('postgres')) console.error('router: PostgreSQL skipped: set TENANCY_BENCH_DATABASE_URL');
    if (redis && ENGINES.has('redis'))
      out.engines.push(
        await engineRun(
          'pglite, Redis ledger',
          undefined,
          { TENANCY_ROUTER_LEDGER: 'redis', TENANCY_REDIS_URL: redis },
          ctx,
          { gateways: gateways.filter((g) => g !== 'tenancy'), streams: false },
        ),
      );
    else if (ENGINES.has('redis')) console.error(`router: Redis ledger skipped: nothing answers at ${redisUrl}`);
    out.loadAverageAtEnd = os.loadavg().map((l) => +l.toFixed(2));
    upstream.child.send('count');
    out.upstream.requestsServed = (await firstMessage(upstream.child, 'upstream')).requests;
  } finally {
    if (proxy) await stopChild(proxy.child);
    if (portkey) await stopChild(portkey.child);
    if (portkeyShimmed) await stopChild(portkeyShimmed.child);
    load.child.send({ type: 'stop' });
    await stopChild(upstream.child);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchRouter(), null, 2));
