// Where the HTTP side of the SDK's cost goes, without the SDK: a bare Fastify route against
// the same route with the three (callback-style) hooks the SDK's Fastify adapter adds, then with an
// AsyncLocalStorage scope entered in preHandler, then with the SDK's response headers
// (RateLimit-Policy, RateLimit, X-Request-Id with a fresh UUID), then with onRequest as an async
// hook with three awaits. The AsyncLocalStorage is enabled before any route runs, as in an app with the SDK. Reports the app process's CPU time per request (Linux /proc) at a fixed
// 4,000 requests/s, 5 alternating rounds of 3 s, and the median. Run: node bench/fastify-overhead.js
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
const { default: autocannon } = await import('autocannon');
if (process.argv[2] === 'app') {
  const { default: Fastify } = await import('fastify');
  const { AsyncLocalStorage } = await import('node:async_hooks');
  const als = new AsyncLocalStorage();
  // `app plain`: no AsyncLocalStorage is ever entered in this process (an app without the SDK).
  if (process.argv[3] !== 'plain') als.run({ t: 0 }, () => undefined);
  const app = Fastify();
  app.get('/bare', async () => ({ ok: true, tenant: '-' }));
  const H = {
    'RateLimit-Policy': '"credential";q=1000000000;w=1, "hourly";q=1000000000000;w=3600',
    RateLimit: '"credential";r=999999999;t=1, "hourly";r=999999999799;t=3600',
  };
  const variant = (path, { hooks, alsOn, headers, asyncWork }) =>
    app.register(async (s) => {
      if (hooks) {
        // Callback-style, as the adapter's hooks are; `asyncWork` makes onRequest an async hook with three awaits.
        const addHeaders = (reply) => {
          for (const k in H) reply.header(k, H[k]);
          reply.header('X-Request-Id', crypto.randomUUID());
        };
        if (asyncWork)
          s.addHook('onRequest', async (_req, reply) => {
            await null;
            await null;
            await null;
            if (headers) addHeaders(reply);
          });
        else
          s.addHook('onRequest', (_req, reply, done) => {
            if (headers) addHeaders(reply);
            done();
          });
        s.addHook('preHandler', (_req, _reply, done) => (alsOn ? als.run({ t: 1 }, done) : done()));
        s.addHook('onResponse', (_req, _reply, done) => done());
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
  const start = async (mode) => {
    const child = fork(new URL(import.meta.url), ['app', mode], { stdio: 'inherit' });
    return { child, url: await new Promise((r) => child.once('message', r)) };
  };
  const apps = { plain: await start('plain'), als: await start('als') };
  const cpu = (child) => {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  };
  const run = ({ child, url }, p) =>
    new Promise((res) => {
      const c0 = cpu(child);
      autocannon({ url: url + p, connections: 50, duration: 3, overallRate: 4000 }, (_e, r) =>
        res(+(((cpu(child) - c0) * 1000) / r.requests.total).toFixed(1)),
      );
    });
  // [label, app, path]: the first is the same bare route in a process where no AsyncLocalStorage was ever entered.
  const cases = [
    ['/bare (no ALS in process)', 'plain', '/bare'],
    ...['/bare', '/hooks', '/hooks-als', '/hooks-als-headers', '/hooks-als-headers-await'].map((p) => [p, 'als', p]),
  ];
  const out = Object.fromEntries(cases.map(([label]) => [label, []]));
  for (const [, app, p] of cases) await run(apps[app], p);
  for (let i = 0; i < 5; i++) for (const [label, app, p] of cases) out[label].push(await run(apps[app], p));
  for (const [label] of cases)
    console.log(label.padEnd(28), out[label].join(' '), 'median', out[label].sort((a, b) => a - b)[2]);
  for (const { child } of Object.values(apps)) child.kill();
  process.exit(0);
}
