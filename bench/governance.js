// Governance benchmarks (part of `npm run bench`; alone: `TENANCY_BENCH_ONLY=governance npm run bench`,
// or `node bench/governance.js` after a build): events per second through the outbox relay
// (in-process bus, and NATS JetStream when TENANCY_BENCH_NATS_URL or TENANCY_TEST_NATS_URL is
// set), webhook deliveries per second to a local receiver, and policy evaluations per second
// in-process and over HTTP. Each figure has a baseline measured in the same run: a bare bus
// publish of the same messages, bare HTTP POSTs of the same bodies at the same concurrency, a
// bare compiled CEL evaluation, and a bare Fastify POST route under the same load.
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as undiciRequest, Agent } from 'undici';
import { loadConfig, startControlPlane } from '../dist/index.js';
import { compileRules, signPolicy } from '../dist/governance/index.js';
import { addEvent, EventRelay } from '../dist/ledger/index.js';
import { connectEventBus } from '../dist/infra/bus/index.js';
import { freshPgDatabase } from './support.js';

const TOKEN = 'bench-admin-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const EVENTS = Number(process.env.TENANCY_BENCH_EVENTS ?? 5000);
const DELIVERIES = Number(process.env.TENANCY_BENCH_DELIVERIES ?? 2000);
const EVALS = Number(process.env.TENANCY_BENCH_EVALS ?? 200_000);
const DURATION = Number(process.env.TENANCY_BENCH_SECONDS ?? 10);
const ACTOR = { id: 'system:bench', correlationId: null };

async function api(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Write `n` events to the outbox, 100 per transaction, spread over 10 tenants. */
async function writeEvents(db, n, tag) {
  for (let i = 0; i < n; i += 100) {
    await db.transaction().execute(async (trx) => {
      for (let j = i; j < Math.min(n, i + 100); j++)
        await addEvent(trx, ACTOR, {
          type: 'bench.event',
          tenantId: `gov-${j % 10}`,
          payload: { tag, i: j, note: 'x'.repeat(64) },
        });
    });
  }
}

/** A sample CloudEvent body of the size the relay publishes. */
function sampleMessage(i, prefix) {
  const body = JSON.stringify({
    specversion: '1.0',
    id: randomBytes(16).toString('hex'),
    source: '/tenancy/bench',
    type: 'tenancy.bench.event',
    subject: `gov-${i % 10}`,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { tag: 'bare', i, note: 'x'.repeat(64) },
    sequence: String(i).padStart(16, '0'),
  });
  return {
    subject: `${prefix}.gov-${i % 10}`,
    id: `bare-${prefix}-${i}-${randomBytes(4).toString('hex')}`,
    data: Buffer.from(body),
    contentType: 'application/cloudevents+json',
  };
}

/** Relay throughput on a backlog of `n` events, and the same messages published straight to the bus. */
async function relayFigure(db, bus, subjectPrefix, n) {
  let received = 0;
  const unsubscribe =
    bus.engine === 'memory' ? await bus.subscribe(`${subjectPrefix}.>`, () => void (received += 1)) : undefined;
  const relay = new EventRelay(db, bus, {
    source: '/tenancy/bench',
    subjectPrefix,
    batchSize: 500,
    pollIntervalMs: 60_000,
  });
  await writeEvents(db, n, subjectPrefix);
  let t = performance.now();
  const published = await relay.drain();
  const relaySeconds = (performance.now() - t) / 1000;
  await relay.stop();
  const receivedFromRelay = received;
  const messages = Array.from({ length: n }, (_, i) => sampleMessage(i, subjectPrefix));
  t = performance.now();
  for (const m of messages) await bus.publish(m);
  const bareSeconds = (performance.now() - t) / 1000;
  await unsubscribe?.();
  const perSec = Math.round(published / relaySeconds);
  const bare = Math.round(n / bareSeconds);
  return {
    events: n,
    published,
    ...(bus.engine === 'memory' ? { received: receivedFromRelay } : {}),
    eventsPerSec: perSec,
    bareBusPublishPerSec: bare,
    ratioToBarePublish: +(perSec / bare).toFixed(3),
  };
}

/** A local receiver that answers 204 and counts. */
async function startReceiver() {
  let count = 0;
  const waiters = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count += 1;
      res.writeHead(204).end();
      for (const w of [...waiters])
        if (count >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    get count() {
      return count;
    },
    reached: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () => new Promise((r) => server.close(r)),
  };
}

/**
 * Deliveries per second, end to end (outbox write -> relay -> fan-out -> signed POST -> 2xx
 * recorded). An endpoint gets one request at a time, in event order, so one endpoint is
 * compared with sequential bare POSTs, and `endpoints` endpoints with as many concurrent ones.
 */
async function webhookFigure(plane, n, endpoints) {
  const receiver = await startReceiver();
  const ids = [];
  try {
    for (let e = 0; e < endpoints; e++)
      ids.push(
        (await api(plane.url, 'POST', '/v1/webhooks', { url: `${receiver.url}/${e}`, eventTypes: ['tenancy.bench.*'] }))
          .id,
      );
    const t = performance.now();
    await writeEvents(plane.database.db, Math.ceil(n / endpoints), `webhooks-${endpoints}`);
    const total = Math.ceil(n / endpoints) * endpoints;
    await receiver.reached(total);
    const seconds = (performance.now() - t) / 1000;
    const body = sampleMessage(0, 'bare').data.toString();
    const agent = new Agent({ keepAliveTimeout: 10_000 });
    const before = receiver.count;
    const tb = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: endpoints }, async () => {
        while (next < total) {
          next += 1;
          const r = await undiciRequest(receiver.url, {
            method: 'POST',
            body,
            headers: {
              'content-type': 'application/json',
              'webhook-id': 'x',
              'webhook-timestamp': '1',
              'webhook-signature': 'v1,x',
            },
            dispatcher: agent,
          });
          await r.body.dump();
        }
      }),
    );
    const bareSeconds = (performance.now() - tb) / 1000;
    await agent.close();
    const perSec = Math.round(total / seconds);
    const bare = Math.round((receiver.count - before) / bareSeconds);
    return {
      endpoints,
      deliveries: total,
      deliveriesPerSec: perSec,
      [`bareHttpPostConcurrency${endpoints}PerSec`]: bare,
      ratioToBarePost: +(perSec / bare).toFixed(3),
    };
  } finally {
    for (const id of ids) await api(plane.url, 'DELETE', `/v1/webhooks/${id}`);
    await receiver.close();
  }
}

const policyBody = {
  name: 'bench-guard',
  domainId: 'billing',
  usecaseId: 'export',
  semver: '1.0.0',
  fields: { action: 'string', amount: 'number', user: { role: 'string' }, tags: 'string[]' },
  defaultEffect: 'deny',
  rules: [
    { id: 'deny-large', kind: 'limit', effect: 'deny', when: 'request.amount > 10000.0' },
    { id: 'deny-tagged', kind: 'access', effect: 'deny', when: '"blocked" in request.tags' },
    {
      id: 'allow-finance',
      kind: 'access',
      effect: 'allow',
      when: 'request.user.role == "finance" && request.action in ["view", "export"]',
    },
  ],
  samples: [
    { name: 'ok', request: { action: 'export', amount: 5, user: { role: 'finance' }, tags: [] }, expect: 'allow' },
  ],
};
const evalRequest = (i) => ({
  action: i % 3 === 0 ? 'view' : 'export',
  amount: i % 20_000,
  user: { role: i % 2 ? 'finance' : 'intern' },
  tags: i % 7 === 0 ? ['blocked'] : ['a'],
});

async function commitBenchPolicy(url, tenant) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await api(url, 'POST', `/v1/tenants/${tenant}/policy-keys`, {
    id: 'bench',
    jwk: publicKey.export({ format: 'jwk' }),
  });
  await api(url, 'POST', `/v1/tenants/${tenant}/policies`, signPolicy(policyBody, privateKey, 'bench'));
}

async function policyInProcessFigure(plane) {
  await api(plane.url, 'POST', '/v1/tenants', {
    apiVersion: 'tenancy/v1',
    kind: 'Tenant',
    metadata: { id: 'gov-policy' },
    spec: { name: 'gov', plan: 'pro' },
  });
  await commitBenchPolicy(plane.url, 'gov-policy');
  const requests = Array.from({ length: 1000 }, (_, i) => evalRequest(i));
  for (let i = 0; i < 2000; i++)
    await plane.policies.evaluate('gov-policy', {
      domainId: 'billing',
      usecaseId: 'export',
      request: requests[i % 1000],
    });
  let t = performance.now();
  for (let i = 0; i < EVALS; i++)
    await plane.policies.evaluate('gov-policy', {
      domainId: 'billing',
      usecaseId: 'export',
      request: requests[i % 1000],
      key: `k${i % 1000}`,
    });
  const perSec = EVALS / ((performance.now() - t) / 1000);
  // The synchronous fast path (cache hits only), as an embedded caller would use it.
  t = performance.now();
  for (let i = 0; i < EVALS; i++)
    plane.policies.tryEvaluate('gov-policy', {
      domainId: 'billing',
      usecaseId: 'export',
      request: requests[i % 1000],
      key: `k${i % 1000}`,
    }) ??
      (await plane.policies.evaluate('gov-policy', {
        domainId: 'billing',
        usecaseId: 'export',
        request: requests[i % 1000],
      }));
  const syncPerSec = EVALS / ((performance.now() - t) / 1000);
  const compiled = compileRules(policyBody);
  t = performance.now();
  for (let i = 0; i < EVALS; i++) compiled.decide(requests[i % 1000]);
  const bare = EVALS / ((performance.now() - t) / 1000);
  return {
    evaluations: EVALS,
    evalsPerSec: Math.round(perSec),
    syncFastPathPerSec: Math.round(syncPerSec),
    bareCompiledCelPerSec: Math.round(bare),
    ratioToBareCel: +(perSec / bare).toFixed(3),
    syncRatioToBareCel: +(syncPerSec / bare).toFixed(3),
  };
}

function startServer(mode, env) {
  return new Promise((resolve, reject) => {
    const child = fork(
      fileURLToPath(new URL('./server.js', import.meta.url)),
      [mode, ...(env?.databaseUrl ? [env.databaseUrl] : [])],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    child.once('message', (m) => resolve({ url: m.url, child }));
    child.once('exit', (code) => reject(new Error(`bench server exited ${code}`)));
  });
}

async function stopServer(server) {
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
}

function load(url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        connections: 50,
        duration: DURATION,
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      },
      (err, r) => {
        if (err) return reject(err);
        resolve({
          reqPerSec: Math.round(r.requests.average),
          p50Ms: r.latency.p50,
          p99Ms: r.latency.p99,
          non2xx: r.non2xx,
          errors: r.errors,
        });
      },
    );
  });
}

async function policyHttpFigure(databaseUrl, bareResult) {
  const server = await startServer('plane', { databaseUrl });
  try {
    await api(server.url, 'POST', '/v1/tenants', {
      apiVersion: 'tenancy/v1',
      kind: 'Tenant',
      metadata: { id: 'gov-http' },
      spec: { name: 'gov', plan: 'pro' },
    });
    await new Promise((r) => setTimeout(r, 500));
    await commitBenchPolicy(server.url, 'gov-http');
    const body = { domainId: 'billing', usecaseId: 'export', request: evalRequest(1), key: 'user-1' };
    const check = await api(server.url, 'POST', '/v1/tenants/gov-http/policies/evaluate', body);
    if (check.decision !== 'allow') throw new Error(`unexpected decision ${JSON.stringify(check)}`);
    const evaluated = await load(`${server.url}/v1/tenants/gov-http/policies/evaluate`, body, auth);
    return {
      ...evaluated,
      bareFastifyPostReqPerSec: bareResult.reqPerSec,
      ratioToBarePost: +(evaluated.reqPerSec / bareResult.reqPerSec).toFixed(3),
      addedP99Ms: +(evaluated.p99Ms - bareResult.p99Ms).toFixed(2),
    };
  } finally {
    await stopServer(server);
  }
}

/** The governance figures on one engine (PGlite when `pgUrl` is undefined). */
export async function benchGovernance(
  engine,
  pgUrl,
  natsUrl = process.env.TENANCY_BENCH_NATS_URL ?? process.env.TENANCY_TEST_NATS_URL,
) {
  console.error(`\n== governance on ${engine}`);
  const dataDir = mkdtempSync(join(os.tmpdir(), 'tenancy-bench-gov-'));
  const store = engine === 'postgres' ? await freshPgDatabase(pgUrl) : undefined;
  const env = {
    TENANCY_ADMIN_TOKEN: TOKEN,
    TENANCY_LOG_LEVEL: 'silent',
    TENANCY_WEBHOOK_ALLOW_PRIVATE: 'true',
    ...(store ? { TENANCY_DATABASE_URL: store.url } : {}),
  };
  const plane = await startControlPlane(loadConfig({ dataDir, port: '0' }, env), {
    listen: true,
    relayPollIntervalMs: 20,
    webhookPollIntervalMs: 50,
  });
  const out = { engine };
  try {
    for (let i = 0; i < 10; i++)
      await api(plane.url, 'POST', '/v1/tenants', {
        apiVersion: 'tenancy/v1',
        kind: 'Tenant',
        metadata: { id: `gov-${i}` },
        spec: { name: `gov ${i}`, plan: 'pro' },
      });
    await plane.controller.idle();
    // The plane's own relay is stopped while the relay figures run on their own relays.
    await plane.relay.drain();
    await plane.relay.stop();
    console.error('outbox relay -> in-process bus...');
    const memoryBus = await connectEventBus({ stream: 'unused', subjectPrefix: 'bench.mem' });
    out.relayInProcess = await relayFigure(plane.database.db, memoryBus, 'bench.mem', EVENTS);
    await memoryBus.close();
    if (natsUrl) {
      console.error('outbox relay -> NATS JetStream...');
      const natsBus = await connectEventBus({
        natsUrl,
        stream: 'tenancy-bench-events',
        subjectPrefix: 'tenancy.bench',
      });
      out.relayNats = await relayFigure(plane.database.db, natsBus, 'tenancy.bench', EVENTS);
      await natsBus.close();
    } else {
      out.relayNats = { skipped: 'set TENANCY_BENCH_NATS_URL' };
    }
    plane.relay.start();
    console.error('webhook deliveries to a local receiver...');
    out.webhooks = {
      note: 'end to end: outbox write -> relay -> fan-out -> signed POST -> 2xx recorded',
      oneEndpoint: await webhookFigure(plane, Math.round(DELIVERIES / 4), 1),
      eightEndpoints: await webhookFigure(plane, DELIVERIES, 8),
    };
    console.error('policy evaluations in-process...');
    out.policyInProcess = await policyInProcessFigure(plane);
  } finally {
    await plane.close();
    await store?.drop();
  }
  console.error('policy evaluations over HTTP...');
  const bare = await startServer('bare');
  let bareResult;
  try {
    bareResult = await load(`${bare.url}/bare`, {
      domainId: 'billing',
      usecaseId: 'export',
      request: evalRequest(1),
      key: 'user-1',
    });
  } finally {
    await stopServer(bare);
  }
  const httpStore = engine === 'postgres' ? await freshPgDatabase(pgUrl) : undefined;
  try {
    out.policyHttp = await policyHttpFigure(httpStore?.url, bareResult);
  } finally {
    await httpStore?.drop();
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const pgUrl = process.env.TENANCY_BENCH_DATABASE_URL ?? process.env.TENANCY_TEST_DATABASE_URL;
  const results = {
    startedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      loadAverage: os.loadavg().map((l) => +l.toFixed(2)),
    },
    governance: [await benchGovernance('pglite')],
  };
  if (pgUrl) results.governance.push(await benchGovernance('postgres', pgUrl));
  console.log(JSON.stringify(results, null, 2));
}
