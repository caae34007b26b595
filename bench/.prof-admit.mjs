import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../dist/config.js';
import { startControlPlane } from '../dist/control-plane.js';
import { createTenancy, correlationOf, runInScope } from '../dist/sdk/index.js';
const TOKEN = 'bench-admin-token-0123456789';
const plane = await startControlPlane(loadConfig({ dataDir: mkdtempSync(join(os.tmpdir(), 'p-')), port: '0', host: '127.0.0.1' }, { TENANCY_ADMIN_TOKEN: TOKEN, TENANCY_LOG_LEVEL: 'silent' }), { listen: true, inMemory: true });
const api = async (m, p, b) => (await fetch(plane.url + p, { method: m, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: b && JSON.stringify(b) })).json();
await api('POST', '/v1/tenants', { apiVersion: 'tenancy/v1', kind: 'Tenant', metadata: { id: 'p' }, spec: { name: 'p', plan: 'enterprise', quotas: { maxRequestsPerHour: 1e12 } } });
const key = (await api('POST', '/v1/tenants/p/api-keys', { name: 'k', role: 'viewer' })).token;
const app = (await api('POST', '/v1/api-keys', { name: 'a', role: 'platform-operator' })).token;
for (const variant of process.argv.slice(2)) {
  const opts = { controlPlane: { url: plane.url, token: app }, limits: { perCredential: { points: 1e9, durationSeconds: 1 } } };
  if (variant === 'nometrics') opts.metrics = false;
  if (variant === 'nolimits') delete opts.limits;
  const t = await createTenancy(opts);
  const headers = { authorization: `Bearer ${key}` };
  const req = { method: 'GET', url: '/x', header: (n) => headers[n] };
  for (let i = 0; i < 2000; i++) (await t.admit(req)).release();
  const N = Number(process.env.N ?? 100000);
  const s = performance.now();
  for (let i = 0; i < N; i++) { if (i % 1000 === 0) await new Promise((r) => setImmediate(r)); const a = await t.admit(req, correlationOf(req)); runInScope(a.scope, () => 1); a.release(); }
  console.log(variant, ((performance.now() - s) * 1000 / N).toFixed(2), 'µs/admit');
  await t.close();
}
await plane.close();
process.exit(0);
