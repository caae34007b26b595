// A server for the benchmarks, in its own process so the load generator does not share
// its event loop: `bare` is a plain Fastify JSON route, `plane` the control plane. A third
// argument, JSON, adds environment settings of the plane (the model router's, bench/router.js).
import Fastify from 'fastify';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, startControlPlane } from '../dist/index.js';

const [mode, databaseUrl, extraEnv] = process.argv.slice(2);
if (mode === 'bare') {
  const app = Fastify();
  const body = {
    apiVersion: 'tenancy/v1',
    kind: 'Tenant',
    metadata: { id: 'bench-0' },
    spec: { name: 'Bench', plan: 'pro' },
  };
  app.get('/bare', async () => body);
  // The POST baseline: parse a JSON body, answer a small JSON decision.
  app.post('/bare', async (request) => ({ decision: request.body?.request ? 'allow' : 'deny', rule: null }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  process.send?.({ url });
} else {
  const dataDir = mkdtempSync(join(tmpdir(), 'tenancy-bench-'));
  const config = loadConfig(
    { port: '0', host: '127.0.0.1', dataDir },
    {
      TENANCY_ADMIN_TOKEN: 'bench-admin-token-0123456789',
      TENANCY_LOG_LEVEL: 'silent',
      ...(databaseUrl ? { TENANCY_DATABASE_URL: databaseUrl } : {}),
      ...(extraEnv ? JSON.parse(extraEnv) : {}),
    },
  );
  const plane = await startControlPlane(config, { logger: false });
  process.send?.({ url: plane.url });
  process.on('SIGTERM', () => plane.close().then(() => process.exit(0)));
}
