// SDK benchmarks (part of `npm run bench`; alone: `TENANCY_BENCH_ONLY=sdk node bench/run.js`).
// Everything is a ratio to a baseline from the same run:
//  - an SDK-guarded route (API key -> context -> rate limit -> quota -> handler) against the
//    same route without the SDK in the same process: req/s under load (autocannon -c 50),
//    and the added p50/p99 from interleaved sequential requests (high-resolution timer),
//    with the in-memory limiter and with the Redis limiter;
//  - noisy neighbour: tenant A sends 20x its rate quota while tenant B sends within its
//    quota; B's p50/p99 against B alone, and A's refused share; and B's p50/p99 while the
//    same flood hits a bare app in another process (the machine's share of the slowdown)
//    and the app's own bare route (the share of answering the flood in the one event loop);
//  - memory: the SDK's cost in an app serving 1,000 tenants, against the same app without it.
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { loadConfig } from '../dist/config.js';
import { startControlPlane } from '../dist/control-plane.js';
import { pct } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const DURATION = Number(process.env.TENANCY_BENCH_SECONDS ?? 10);
// Alternating rounds per figure (TENANCY_BENCH_SDK_ROUNDS): each route or condition gets DURATION seconds in all.
const ROUNDS = Number(process.env.TENANCY_BENCH_SDK_ROUNDS ?? 5);
const CLOCK_TICKS = 100; // USER_HZ of /proc/<pid>/stat on Linux
const REDIS_URL = process.env.TENANCY_BENCH_REDIS_URL ?? process.env.TENANCY_TEST_REDIS_URL;
const QUOTA = 200; // the noisy-neighbour rate quota, requests per second per tenant
const VICTIM_RATE = 100; // within its quota
const MEMORY_TENANTS = Number(process.env.TENANCY_BENCH_SDK_TENANTS ?? 1000);
// TENANCY_BENCH_SDK_PARTS=load,noisy,memory (default all three) picks the figures.
const PARTS = new Set((process.env.TENANCY_BENCH_SDK_PARTS ?? 'load,noisy,memory').split(','));

const stats = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50Ms: +pct(s, 50).toFixed(3), p99Ms: +pct(s, 99).toFixed(3) };
};
const MiB = (b) => +(b / 2 ** 20).toFixed(1);

async function api(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const manifest = (id, plan = 'enterprise', quotas = {}) => ({
  apiVersion: 'tenancy/v1',
  kind: 'Tenant',
  metadata: { id },
  spec: { name: id, plan, quotas },
});

function startApp(config) {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./sdk-app.js', import.meta.url), [JSON.stringify(config)], {
      execArgv: [
        '--expose-gc',
        ...(process.env.TENANCY_BENCH_PROF_DIR
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TENANCY_BENCH_PROF_DIR}`]
          : []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (m) => resolve({ url: m.url, child }));
    child.once('exit', (code) => reject(new Error(`bench app exited ${code}`)));
  });
}

function ask(app, type) {
  return new Promise((resolve) => {
    const onMessage = (m) => {
      if (m.type === type) {
        app.child.off('message', onMessage);
        resolve(m);
      }
    };
    app.child.on('message', onMessage);
    app.child.send({ type });
  });
}

async function stopApp(app) {
  const exited = new Promise((r) => app.child.once('exit', r));
  app.child.send({ type: 'stop' });
  await exited;
}

/** CPU time (user + system, ms) the app process has used so far (Linux /proc; undefined elsewhere). */
function cpuMs(app) {
  try {
    const fields = readFileSync(`/proc/${app.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

function load(app, path, token, seconds) {
  return new Promise((resolve, reject) => {
    const before = cpuMs(app);
    autocannon(
      {
        url: `${app.url}${path}`,
        connections: 50,
        duration: seconds,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (err, r) => {
        if (err) return reject(err);
        const after = cpuMs(app);
        const cpuUsPerRequest =
          before !== undefined && after !== undefined && r.requests.total > 0
            ? +(((after - before) * 1000) / r.requests.total).toFixed(1)
            : undefined;
        resolve({
          reqPerSec: Math.round(r.requests.average),
          p50Ms: r.latency.p50,
          p99Ms: r.latency.p99,
          non2xx: r.non2xx,
          errors: r.errors,
          cpuUsPerRequest,
        });
      },
    );
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Sequential requests, the paths interleaved so that noise hits each alike; ms per request. */
async function interleaved(url, paths, token, n) {
  const client = new Client(url, { pipelining: 1 });
  const times = Object.fromEntries(paths.map((p) => [p, []]));
  try {
    for (let i = 0; i < n + 200; i++) {
      for (const p of paths) {
        const t = process.hrtime.bigint();
        const res = await client.request({ path: p, method: 'GET', headers: { authorization: `Bearer ${token}` } });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`${p}: ${res.statusCode}`);
        if (i >= 200) times[p].push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }
  } finally {
    await client.close();
  }
  return Object.fromEntries(paths.map((p) => [p, stats(times[p])]));
}

/** Open-loop requests at `rate` per second for `seconds`: latency of each, and refusals. */
async function paced(url, token, rate, seconds) {
  const client = new Client(url, { connections: 8, pipelining: 1 });
  const ms = [];
  let refused = 0;
  const inflight = [];
  const start = performance.now();
  const total = rate * seconds;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      (async () => {
        const t = process.hrtime.bigint();
        const res = await client.request({
          path: '/shared',
          method: 'GET',
          headers: { authorization: `Bearer ${token}` },
        });
        await res.body.text();
        if (res.statusCode === 200) ms.push(Number(process.hrtime.bigint() - t) / 1e6);
        else refused++;
      })(),
    );
  }
  await Promise.all(inflight);
  await client.close();
  return { ...stats(ms), ms, refused, sentPerSec: Math.round(total / ((performance.now() - start) / 1000)) };
}

/** Start the noisy tenant's generator; resolves once it is loaded, with `go()` to start it (resolves with its totals). */
function noisyLoad(url, path, token, seconds) {
  return new Promise((ready, reject) => {
    const child = fork(
      new URL('./sdk-load.js', import.meta.url),
      [JSON.stringify({ url: `${url}${path}`, token, rate: QUOTA * 20, connections: 16, seconds })],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    const done = new Promise((resolve) => child.on('message', (m) => m.type === 'done' && resolve(m)));
    child.once(
      'message',
      (m) =>
        m.type === 'ready' &&
        ready({
          go: () => {
            child.send('go');
            return done;
          },
        }),
    );
    child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited ${code}`)));
  });
}

async function guardedVsBare(app, benchKey, guardedPaths) {
  // Rounds of bare, guarded, guarded with Redis, each route DURATION / ROUNDS seconds per
  // round: drift of the machine (other work, thermal, the host) hits every route alike.
  // Ratios are of medians over the rounds.
  console.error(`SDK: guarded vs bare route under load (autocannon -c 50, ${ROUNDS} rounds)...`);
  const paths = ['/bare', ...guardedPaths];
  const runs = Object.fromEntries(paths.map((p) => [p, []]));
  const seconds = Math.max(2, Math.round(DURATION / ROUNDS));
  for (let round = 0; round < ROUNDS; round++)
    for (const p of paths) runs[p].push(await load(app, p, benchKey, seconds));
  const summary = (p) => ({
    reqPerSec: median(runs[p].map((r) => r.reqPerSec)),
    cpuUsPerRequest: runs[p].every((r) => r.cpuUsPerRequest !== undefined)
      ? median(runs[p].map((r) => r.cpuUsPerRequest))
      : undefined,
    p99Ms: median(runs[p].map((r) => r.p99Ms)),
    non2xx: runs[p].reduce((n, r) => n + r.non2xx, 0),
    rounds: runs[p],
  });
  const bare = summary('/bare');
  const vsBare = (p) => {
    const x = summary(p);
    return {
      ...x,
      ratioToBare: +(x.reqPerSec / bare.reqPerSec).toFixed(3),
      ...(x.cpuUsPerRequest !== undefined && bare.cpuUsPerRequest !== undefined
        ? { addedCpuUsPerRequest: +(x.cpuUsPerRequest - bare.cpuUsPerRequest).toFixed(1) }
        : {}),
    };
  };
  const underLoad = {
    secondsPerRound: seconds,
    bare,
    memoryLimiter: vsBare('/guarded'),
    ...(REDIS_URL ? { redisLimiter: vsBare('/guarded-redis') } : {}),
  };
  console.error('SDK: added latency, interleaved sequential requests...');
  const seq = await interleaved(app.url, paths, benchKey, 3000);
  const added = (p) => ({
    ...seq[p],
    addedP50Ms: +(seq[p].p50Ms - seq['/bare'].p50Ms).toFixed(3),
    addedP99Ms: +(seq[p].p99Ms - seq['/bare'].p99Ms).toFixed(3),
  });
  return {
    underLoad,
    sequential: {
      bare: seq['/bare'],
      memoryLimiter: added('/guarded'),
      ...(REDIS_URL ? { redisLimiter: added('/guarded-redis') } : {}),
    },
  };
}

async function noisyNeighbour(app, noisyKey, victimKey) {
  // Alternating rounds (victim alone; victim while the noisy tenant floods the app; victim
  // while the same flood hits another process on the machine, a bare Fastify app without the
  // SDK), the victim's samples pooled per condition, so drift of the machine hits all alike.
  // The third condition is the machine's share: what the flood costs the victim through the
  // shared CPU alone, which no admission control inside the app can take back.
  console.error(`SDK: noisy neighbour (${ROUNDS} rounds)...`);
  const elsewhere = await startApp({ mode: 'bare-only' });
  await paced(app.url, victimKey, VICTIM_RATE, 1);
  const seconds = Math.max(2, Math.round(DURATION / ROUNDS));
  const alone = { ms: [], refused: 0 };
  const withNoisy = { ms: [], refused: 0 };
  const floodElsewhere = { ms: [], refused: 0 };
  const floodOnBareRoute = { ms: [], refused: 0 };
  const noisy = { total: 0, refused: 0, reqPerSec: [] };
  const pause = () => new Promise((r) => setTimeout(r, 1100));
  // The generator runs a second longer than the victim, which starts half a second in:
  // the victim is measured under the flood only, not under the generator's start or end.
  const underFlood = async (target, path) => {
    const generator = await noisyLoad(target, path, noisyKey, seconds + 1);
    const flood = generator.go();
    await new Promise((r) => setTimeout(r, 500));
    const w = await paced(app.url, victimKey, VICTIM_RATE, seconds);
    return { w, n: await flood };
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const a = await paced(app.url, victimKey, VICTIM_RATE, seconds);
      alone.ms.push(...a.ms);
      alone.refused += a.refused;
      // The rate window of the victim's last second must not carry into the next round.
      await pause();
      const { w, n } = await underFlood(app.url, '/shared');
      withNoisy.ms.push(...w.ms);
      withNoisy.refused += w.refused;
      noisy.total += n.total;
      noisy.refused += n.non2xx;
      noisy.reqPerSec.push(n.reqPerSec);
      await pause();
      const e = await underFlood(elsewhere.url, '/bare');
      floodElsewhere.ms.push(...e.w.ms);
      floodElsewhere.refused += e.w.refused;
      await pause();
      // The same flood on the app's own bare route (no SDK on its path): what answering
      // 4,000 requests/s costs the victim in the one event loop, whatever answers them.
      const b = await underFlood(app.url, '/bare');
      floodOnBareRoute.ms.push(...b.w.ms);
      floodOnBareRoute.refused += b.w.refused;
      await pause();
    }
  } finally {
    await stopApp(elsewhere);
  }
  const aloneStats = { ...stats(alone.ms), refused: alone.refused };
  const withStats = { ...stats(withNoisy.ms), refused: withNoisy.refused };
  const elsewhereStats = { ...stats(floodElsewhere.ms), refused: floodElsewhere.refused };
  const bareRouteStats = { ...stats(floodOnBareRoute.ms), refused: floodOnBareRoute.refused };
  const sent = median(noisy.reqPerSec);
  return {
    quotaPerSec: QUOTA,
    rounds: ROUNDS,
    secondsPerRound: seconds,
    victim: {
      ratePerSec: VICTIM_RATE,
      alone: aloneStats,
      withNoisy: withStats,
      withFloodOnAnotherProcess: elsewhereStats,
      withFloodOnTheAppsBareRoute: bareRouteStats,
      p50Ratio: +(withStats.p50Ms / aloneStats.p50Ms).toFixed(2),
      p99Ratio: +(withStats.p99Ms / aloneStats.p99Ms).toFixed(2),
      // The same flood aimed at a bare app in another process: the machine's share alone.
      p99RatioFloodOnAnotherProcess: +(elsewhereStats.p99Ms / aloneStats.p99Ms).toFixed(2),
      p50RatioFloodOnAnotherProcess: +(elsewhereStats.p50Ms / aloneStats.p50Ms).toFixed(2),
      // The same flood answered 200 by the app's bare route: the event loop's share.
      p99RatioFloodOnTheAppsBareRoute: +(bareRouteStats.p99Ms / aloneStats.p99Ms).toFixed(2),
      p50RatioFloodOnTheAppsBareRoute: +(bareRouteStats.p50Ms / aloneStats.p50Ms).toFixed(2),
    },
    noisy: {
      targetPerSec: QUOTA * 20,
      sentPerSec: Math.round(sent),
      total: noisy.total,
      refused: noisy.refused,
      refusedShare: +(noisy.refused / Math.max(1, noisy.total)).toFixed(3),
      timesQuota: +(sent / QUOTA).toFixed(1),
    },
  };
}

/** The SDK app against the same app without the SDK, both having served MEMORY_TENANTS tenants. */
async function memory(url, appToken, key, perCredential) {
  console.error(`SDK: memory with ${MEMORY_TENANTS} tenants (seeding them)...`);
  const ids = Array.from({ length: MEMORY_TENANTS }, (_, i) => `mem-${String(i).padStart(4, '0')}`);
  for (let b = 0; b < ids.length; b += 500)
    await api(url, 'POST', '/v1/apply', {
      items: ids.slice(b, b + 500).map((id) => ({ manifest: manifest(id, 'pro') })),
    });
  const keys = [];
  for (const id of ids) keys.push(await key(id));
  const serve = async (target, n, path) => {
    const client = new Client(target.url, { pipelining: 1 });
    for (let i = 0; i < n; i++) {
      for (const p of ['/bare', path]) {
        const res = await client.request({ path: p, method: 'GET', headers: { authorization: `Bearer ${keys[i]}` } });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`memory run: ${res.statusCode}`);
      }
    }
    await client.close();
  };
  const bareApp = await startApp({ mode: 'bare-only' });
  await serve(bareApp, ids.length, '/bare');
  const bareAnswer = await ask(bareApp, 'memory');
  const bareMem = bareAnswer.usage;
  await stopApp(bareApp);
  const sdkApp = await startApp({ planeUrl: url, appToken, scopes: [{ path: '/guarded', limits: { perCredential } }] });
  await serve(sdkApp, 1, '/guarded');
  const oneMem = (await ask(sdkApp, 'memory')).usage;
  await serve(sdkApp, ids.length, '/guarded');
  const fullAnswer = await ask(sdkApp, 'memory');
  const fullMem = fullAnswer.usage;
  await stopApp(sdkApp);
  const mib = (m) => Object.fromEntries(Object.entries(m).map(([f, v]) => [f, MiB(v)]));
  return {
    tenants: ids.length,
    appWithoutSdk: mib(bareMem),
    sdkOneTenant: mib(oneMem),
    sdkAllTenants: mib(fullMem),
    addedBySdk: {
      rssMiB: MiB(fullMem.rss - bareMem.rss),
      heapUsedMiB: MiB(fullMem.heapUsed - bareMem.heapUsed),
      heapTotalMiB: MiB(fullMem.heapTotal - bareMem.heapTotal),
      externalMiB: MiB(fullMem.external - bareMem.external),
    },
    heapSpacesMiB: { appWithoutSdk: bareAnswer.spaces, sdkAllTenants: fullAnswer.spaces },
    perTenantKiB: {
      heapUsed: +((fullMem.heapUsed - oneMem.heapUsed) / 1024 / (ids.length - 1)).toFixed(2),
      rss: +((fullMem.rss - oneMem.rss) / 1024 / (ids.length - 1)).toFixed(2),
    },
  };
}

/** Run the SDK figures (the control plane runs in this process on embedded PGlite). */
export async function benchSdk() {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'tenancy-bench-sdk-'));
  const plane = await startControlPlane(
    loadConfig({ dataDir, port: '0', host: '127.0.0.1' }, { TENANCY_ADMIN_TOKEN: TOKEN, TENANCY_LOG_LEVEL: 'silent' }),
    { listen: true },
  );
  const url = plane.url;
  const out = {
    engine: `pglite control plane; SDK in memory${REDIS_URL ? ' and Redis' : ''}`,
    loadAverageAtStart: os.loadavg().map((l) => +l.toFixed(2)),
  };
  try {
    await api(
      url,
      'POST',
      '/v1/tenants',
      manifest('sdk-bench', 'enterprise', { maxRequestsPerHour: 1e12, maxConcurrentRequests: 10_000 }),
    );
    await api(url, 'POST', '/v1/tenants', manifest('sdk-noisy', 'pro', { maxRequestsPerHour: 1e12 }));
    await api(url, 'POST', '/v1/tenants', manifest('sdk-victim', 'pro', { maxRequestsPerHour: 1e12 }));
    const key = async (tenant) =>
      (await api(url, 'POST', `/v1/tenants/${tenant}/api-keys`, { name: 'bench', role: 'viewer' })).token;
    const benchKey = await key('sdk-bench');
    const noisyKey = await key('sdk-noisy');
    const victimKey = await key('sdk-victim');
    const appToken = (await api(url, 'POST', '/v1/api-keys', { name: 'bench app', role: 'platform-operator' })).token;
    await plane.controller.idle();

    const perCredential = { points: 1e9, durationSeconds: 1 };
    const scopes = [
      { path: '/guarded', limits: { perCredential } },
      { path: '/shared', limits: { perTenant: { points: QUOTA, durationSeconds: 1 } } },
    ];
    if (REDIS_URL)
      scopes.push({
        path: '/guarded-redis',
        limits: { perCredential, redisUrl: REDIS_URL, keyPrefix: `tenancy-bench:${process.pid}` },
      });
    const app =
      PARTS.has('load') || PARTS.has('noisy') ? await startApp({ planeUrl: url, appToken, scopes }) : undefined;
    if (app) {
      try {
        const guardedPaths = ['/guarded', ...(REDIS_URL ? ['/guarded-redis'] : [])];
        for (const p of guardedPaths) await interleaved(app.url, [p], benchKey, 50);
        if (PARTS.has('load')) Object.assign(out, await guardedVsBare(app, benchKey, guardedPaths));
        if (PARTS.has('noisy')) out.noisyNeighbour = await noisyNeighbour(app, noisyKey, victimKey);
      } finally {
        await stopApp(app);
      }
    }
    if (PARTS.has('memory')) out.memory = await memory(url, appToken, key, perCredential);
  } finally {
    await plane.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchSdk(), null, 2));
