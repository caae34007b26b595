// The app under test for bench/sdk.js, in its own process (forked with --expose-gc):
// Fastify with a bare JSON route and, per configured scope, the same route guarded by the
// SDK (API key -> tenant context -> rate limits -> quotas -> handler). `bare-only` loads no
// SDK at all, as the memory baseline. Answers `{ type: 'memory' }` with memoryUsage after GC.
import Fastify from 'fastify';
import v8 from 'node:v8';

const config = JSON.parse(process.argv[2]);
const app = Fastify();
app.get('/bare', async () => ({ ok: true, tenant: '-' }));
const closers = [];
if (config.mode !== 'bare-only') {
  const sdk = await import('../dist/sdk/index.js');
  for (const scope of config.scopes) {
    const tenancy = await sdk.createTenancy({
      controlPlane: { url: config.planeUrl, token: config.appToken },
      limits: scope.limits,
      logging: { level: 'warn' },
    });
    await tenancy.start();
    closers.push(() => tenancy.close());
    app.register(async (s) => {
      sdk.tenancyFastify(s, tenancy);
      s.get(scope.path, async () => ({ ok: true, tenant: sdk.currentTenant().id }));
    });
  }
}
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.send({ type: 'ready', url });
process.on('message', async (m) => {
  if (m.type === 'memory') {
    // Idle first, so V8's memory reducer (it acts some 8 s after allocation slows down) has
    // shrunk a young generation grown by the traffic (both apps get the same), then collect.
    await new Promise((r) => setTimeout(r, Number(process.env.TENANCY_BENCH_IDLE_MS ?? 12_000)));
    for (let i = 0; i < 3; i++) {
      global.gc?.();
      await new Promise((r) => setTimeout(r, 50));
    }
    // V8 shrinks a grown young generation only in a full GC that sees a low allocation rate
    // since the previous GC, which the idle above does not always give (a scavenge late in it
    // resets the rate): one more full GC 6 s after those does, in both apps alike.
    await new Promise((r) => setTimeout(r, 6_000));
    global.gc?.();
    const spaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, +(sp.space_size / 2 ** 20).toFixed(1)]),
    );
    process.send({ type: 'memory', usage: process.memoryUsage(), spaces });
  }
  if (m.type === 'stop') {
    await app.close();
    for (const c of closers) await c();
    process.exit(0);
  }
});
