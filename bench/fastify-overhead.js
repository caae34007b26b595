// Where the HTTP side of the SDK's cost goes, without the SDK: a bare Fastify route against
// the same route with the three hooks the SDK's Fastify adapter adds, then with an
// AsyncLocalStorage scope entered in preHandler, then with the SDK's response headers
// (RateLimit-Policy, RateLimit, X-Request-Id with a fresh UUID), then with three awaits in
// onRequest. Reports the app process's CPU time per request (Linux /proc) at a fixed
// 4,000 requests/s, 5 alternating rounds of 3 s, and the median. Run: node bench/fastify-overhead.js
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
const { default: autocannon } = await import('autocannon');
if (process.argv[2] === 'app') {
  const { default: Fastify } = await import('fastify');
  const { AsyncLocalStorage } = await import('node:async_hooks');
  const als = new AsyncLocalStorage();
  const app = Fastify();
  app.get('/bare', async () => ({ ok: true, tenant: '-' }));
  const H = { 'RateLimit-Policy': '"credential";q=1000000000;w=1, "hourly";q=1000000000000;w=3600', RateLimit: '"credential";r=999999999;t=1, "hourly";r=999999999799;t=3600' };
  const variant = (path, { hooks, alsOn, headers, asyncWork }) => app.register(async (s) => {
    if (hooks) {
      s.addHook('onRequest', async (req, reply) => { if (asyncWork) { await null; await null; await null; } if (headers) { for (const k in H) reply.header(k, H[k]); reply.header('X-Request-Id', crypto.randomUUID()); } });
      s.addHook('preHandler', (req, reply, done) => (alsOn ? als.run({ t: 1 }, () => done()) : done()));
      s.addHook('onResponse', async () => {});
    }
    s.get(path, async () => ({ ok: true, tenant: alsOn ? String(als.getStore()?.t) : '-' }));
  });
  variant('/hooks', { hooks: true });
  variant('/hooks-als', { hooks: true, alsOn: true });
  variant('/hooks-als-headers', { hooks: true, alsOn: true, headers: true });
  variant('/hooks-als-headers-await', { hooks: true, alsOn: true, headers: true, asyncWork: true });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  process.send(url);
} else {
  const child = fork(new URL(import.meta.url), ['app'], { stdio: 'inherit' });
  const url = await new Promise((r) => child.once('message', r));
  const cpu = () => { const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
  const run = (p) => new Promise((res) => { const c0 = cpu(); autocannon({ url: url + p, connections: 50, duration: 3, overallRate: 4000 }, (e, r) => res(+(((cpu() - c0) * 1000) / r.requests.total).toFixed(1))); });
  const paths = ['/bare', '/hooks', '/hooks-als', '/hooks-als-headers', '/hooks-als-headers-await'];
  const out = Object.fromEntries(paths.map((p) => [p, []]));
  await run('/bare');
  for (let i = 0; i < 5; i++) for (const p of paths) out[p].push(await run(p));
  for (const p of paths) console.log(p.padEnd(28), out[p].join(' '), 'median', out[p].sort((a, b) => a - b)[2]);
  child.kill(); process.exit(0);
}
