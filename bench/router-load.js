// The load generator of bench/router.js, in its own process (pinned away from the gateways
// when the machine allows), driven over IPC so its start-up is never measured:
//  - `paced`: open-loop requests at a fixed rate; each request's latency (high-resolution
//    clock, from the moment it is sent to its last body byte), refusals and errors;
//  - `stream`: the same with `stream: true`; time to the first body byte (the first SSE
//    event) and to the end of the stream, which must end with `data: [DONE]`;
//  - `sequential`: one request at a time, the targets interleaved so that noise hits each
//    alike; the latency of each without any queueing;
//  - `max`: autocannon, unbounded, for the most requests per second.
import autocannon from 'autocannon';
import { Client, Pool } from 'undici';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const since = (t) => Number(process.hrtime.bigint() - t) / 1e6;

/** Send `rate` requests per second for `seconds` (late ones go out at once, so the rate holds). */
async function paced({ url, path, headers, body, rate, seconds, connections = 16 }, onResponse) {
  const pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const statuses = {};
  let errors = 0;
  const inflight = new Set();
  const total = Math.round(rate * seconds);
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait >= 1) await sleep(wait);
    const p = (async () => {
      const t = process.hrtime.bigint();
      try {
        const res = await pool.request({ path, method: 'POST', headers, body });
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        await onResponse(res, t);
      } catch {
        errors++;
      }
    })();
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  const sentPerSec = Math.round(total / ((performance.now() - start) / 1000));
  await pool.close();
  return { statuses, errors, sentPerSec };
}

async function latency(job) {
  const ms = [];
  const r = await paced(job, async (res, t) => {
    await res.body.dump();
    if (res.statusCode === 200) ms.push(since(t));
  });
  return { ...r, ms };
}

async function streams(job) {
  const ttftMs = [];
  const totalMs = [];
  let unfinished = 0;
  const r = await paced(job, async (res, t) => {
    let first;
    let tail = '';
    for await (const chunk of res.body) {
      if (first === undefined && chunk.length > 0) first = since(t);
      tail = (tail + chunk.toString('utf8')).slice(-64);
    }
    if (res.statusCode !== 200) return;
    if (!tail.trimEnd().endsWith('data: [DONE]')) {
      unfinished++;
      return;
    }
    ttftMs.push(first);
    totalMs.push(since(t));
  });
  return { ...r, unfinished, ttftMs, totalMs };
}

async function sequential({ targets, n, warm = 200 }) {
  const clients = targets.map((t) => new Client(t.url, { pipelining: 1, keepAliveTimeout: 60_000 }));
  const ms = targets.map(() => []);
  const statuses = targets.map(() => ({}));
  try {
    for (let i = 0; i < warm + n; i++) {
      for (let k = 0; k < targets.length; k++) {
        const t = process.hrtime.bigint();
        const res = await clients[k].request({
          path: targets[k].path,
          method: 'POST',
          headers: targets[k].headers,
          body: targets[k].body,
        });
        await res.body.dump();
        const d = since(t);
        if (i < warm) continue;
        statuses[k][res.statusCode] = (statuses[k][res.statusCode] ?? 0) + 1;
        if (res.statusCode === 200) ms[k].push(d);
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return { ms, statuses };
}

function max({ url, path, headers, body, connections, seconds }) {
  return new Promise((resolve, reject) => {
    autocannon({ url: url + path, method: 'POST', headers, body, connections, duration: seconds }, (err, r) => {
      if (err) return reject(err);
      resolve({
        reqPerSec: Math.round(r.requests.average),
        total: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
      });
    });
  });
}

const jobs = { paced: latency, stream: streams, sequential, max };
process.on('message', async (m) => {
  if (m.type === 'stop') process.exit(0);
  try {
    process.send({ id: m.id, result: await jobs[m.type](m.job) });
  } catch (error) {
    process.send({ id: m.id, error: String(error?.stack ?? error) });
  }
});
process.send({ type: 'ready' });
