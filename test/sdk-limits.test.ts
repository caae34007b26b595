/**
 * Rate limits and quotas in the SDK: per-credential and per-tenant limits with the IETF
 * RateLimit fields; maxRequestsPerHour and maxConcurrentRequests from the tenant context,
 * changed in the manifest without a restart; limits shared by two app instances through
 * Redis; and Redis unreachable: reads pass, writes 503 by default, both configurable.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy, TenancyError, type RequestLimiterOptions, type Tenancy } from '../src/sdk/index.js';
import { startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, tenantKey } from './support/http.js';
import { get, problemOf, startGuardedApp, type GuardedApp } from './sdk-apps.js';

const REDIS_URL = process.env.TENANCY_TEST_REDIS_URL;
if (!REDIS_URL)
  console.warn('[tenancy tests] TENANCY_TEST_REDIS_URL is not set: SDK rate limits shared through Redis are SKIPPED');

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function until(fn: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('SDK rate limits and quotas', () => {
  let plane: TestPlane;
  let appToken: string;
  const started: Array<{ tenancy: Tenancy; app: GuardedApp }> = [];

  async function guarded(
    limits: RequestLimiterOptions = {},
    kind: 'fastify' | 'express' | 'hono' = 'fastify',
  ): Promise<GuardedApp> {
    const tenancy = await createTenancy({
      controlPlane: { url: plane.url, token: appToken },
      events: { pollIntervalMs: 100 },
      limits,
    });
    const app = await startGuardedApp(kind, tenancy);
    started.push({ tenancy, app });
    return app;
  }

  beforeAll(async () => {
    plane = await startTestPlane('pglite', { listen: true });
    await createActive(plane, 'lim-rate');
    await createActive(plane, 'lim-hour', { quotas: { maxRequestsPerHour: 3 } });
    await createActive(plane, 'lim-conc', { quotas: { maxConcurrentRequests: 2 } });
    await createActive(plane, 'lim-redis');
    const res = await call(plane, 'POST', '/v1/api-keys', { name: 'app', role: 'platform-operator' });
    appToken = res.json().token;
  }, 60_000);

  afterAll(async () => {
    for (const { tenancy, app } of started) {
      await app.close();
      await tenancy.close();
    }
    await plane?.stop();
  });

  it('limits per credential and per tenant, with RateLimit fields and Retry-After', async () => {
    const app = await guarded({
      perCredential: { points: 2, durationSeconds: 60 },
      perTenant: { points: 3, durationSeconds: 60 },
    });
    const k1 = await tenantKey(plane, 'lim-rate', 'viewer');
    const k2 = await tenantKey(plane, 'lim-rate', 'viewer');
    const first = await get(`${app.url}/whoami`, k1.token);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toContain('"credential";q=2;w=60');
    expect(first.headers.get('ratelimit-policy')).toContain('"tenant";q=3;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/"credential";r=1;t=\d+/);
    expect((await get(`${app.url}/whoami`, k1.token)).status).toBe(200);
    const third = await get(`${app.url}/whoami`, k1.token);
    expect(problemOf(third)).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(third.body).toMatchObject({ policy: 'credential', limit: 2 });
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(third.headers.get('ratelimit')).toMatch(/"credential";r=0;/);
    // Another key of the same tenant has its own credential budget, but the tenant's is shared.
    expect((await get(`${app.url}/whoami`, k2.token)).status).toBe(429);
    const tenantRefusal = (await get(`${app.url}/whoami`, k2.token)).body;
    expect(tenantRefusal).toMatchObject({ code: 'rate_limited', policy: 'tenant', limit: 3 });
  });

  it('answers a request whose credential and context are cached without waiting (in memory), and refuses one synchronously', async () => {
    // The hot path's contract: once warm, nothing on it is a promise, so a busy app pays no
    // microtask per request; the first request waits for the control plane.
    const tenancy = await createTenancy({
      controlPlane: { url: plane.url, token: appToken },
      events: { pollIntervalMs: 100 },
      limits: { perCredential: { points: 2, durationSeconds: 60 } },
    });
    try {
      const key = await tenantKey(plane, 'lim-rate', 'viewer');
      const request = {
        method: 'GET',
        url: '/x',
        header: (name: string) => (name === 'authorization' ? `Bearer ${key.token}` : undefined),
      };
      const first = tenancy.enter(request);
      expect(first).toBeInstanceOf(Promise);
      const admitted = await first;
      expect(admitted.scope.tenant.id).toBe('lim-rate');
      admitted.release();
      const second = tenancy.enter(request);
      expect(second).not.toBeInstanceOf(Promise);
      const sync = second as Awaited<typeof first>;
      expect(sync.scope.tenant.id).toBe('lim-rate');
      expect(sync.headers.RateLimit).toMatch(/^"credential";r=0;t=\d+, "hourly";r=\d+;t=\d+$/);
      expect(sync.headers['RateLimit-Policy']).toMatch(/^"credential";q=2;w=60, "hourly";q=\d+;w=3600$/);
      sync.release();
      let thrown: unknown;
      try {
        tenancy.enter(request);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: 'rate_limited', status: 429 });
      // What the adapters call: the refusal comes back as a value, nothing is thrown.
      const decided = tenancy.decide(request);
      expect(decided).toBeInstanceOf(TenancyError);
      expect(decided).toMatchObject({
        code: 'rate_limited',
        status: 429,
        headers: { 'Retry-After': expect.stringMatching(/^\d+$/) },
      });
      // The promise form answers the same.
      await expect(tenancy.admit(request)).rejects.toMatchObject({ code: 'rate_limited' });
    } finally {
      await tenancy.close();
    }
  });

  it('enforces maxRequestsPerHour from the context, and a raised quota applies without a restart', async () => {
    const app = await guarded({}, 'express');
    const key = await tenantKey(plane, 'lim-hour', 'viewer');
    for (let i = 0; i < 3; i++) expect((await get(`${app.url}/whoami`, key.token)).status).toBe(200);
    const refused = await get(`${app.url}/whoami`, key.token);
    expect(problemOf(refused)).toMatchObject({ status: 429, code: 'quota_exceeded' });
    expect(refused.body).toMatchObject({ quota: 'maxRequestsPerHour', limit: 3, current: 3 });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('ratelimit-policy')).toContain('"hourly";q=3;w=3600');
    const patched = await call(plane, 'PATCH', '/v1/tenants/lim-hour', {
      spec: { quotas: { maxRequestsPerHour: 10 } },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    // No restart: the app learns of the change from the event feed (within a poll or two on a
    // quiet machine; the bound is generous for a loaded CI machine).
    await until(async () => (await get(`${app.url}/whoami`, key.token)).status === 200, 20_000);
    const after = await get(`${app.url}/whoami`, key.token);
    expect(after.headers.get('ratelimit-policy')).toContain('"hourly";q=10;w=3600');
  });

  it('enforces maxConcurrentRequests and frees the slot when a response ends', async () => {
    const app = await guarded({}, 'hono');
    const key = await tenantKey(plane, 'lim-conc', 'viewer');
    const slow = [get(`${app.url}/slow`, key.token), get(`${app.url}/slow`, key.token)];
    const tenancy = started[started.length - 1]!.tenancy;
    await until(async () => tenancy.limiter.inFlight('lim-conc') === 2);
    const refused = await get(`${app.url}/whoami`, key.token);
    expect(problemOf(refused)).toMatchObject({ status: 429, code: 'quota_exceeded' });
    expect(refused.body).toMatchObject({ quota: 'maxConcurrentRequests', limit: 2, current: 2 });
    expect(refused.headers.get('retry-after')).toBe('1');
    app.releaseSlow();
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200]);
    expect(tenancy.limiter.inFlight('lim-conc')).toBe(0);
    expect((await get(`${app.url}/whoami`, key.token)).status).toBe(200);
  });

  it('with Redis unreachable: reads pass and writes get 503 by default; both modes configurable', async () => {
    const redisUrl = `redis://127.0.0.1:${await closedPort()}`;
    const key = await tenantKey(plane, 'lim-rate', 'owner');
    const byDefault = await guarded({ redisUrl, perTenant: { points: 100, durationSeconds: 60 } });
    expect((await get(`${byDefault.url}/whoami`, key.token)).status).toBe(200);
    const write = await get(`${byDefault.url}/things`, key.token, {}, 'POST');
    expect(problemOf(write)).toMatchObject({ status: 503, code: 'rate_limiter_unavailable' });
    expect(write.headers.get('retry-after')).toBe('1');
    const inverted = await guarded(
      {
        redisUrl,
        perTenant: { points: 100, durationSeconds: 60 },
        onStoreFailure: { reads: 'closed', writes: 'open' },
      },
      'express',
    );
    expect(problemOf(await get(`${inverted.url}/whoami`, key.token))).toMatchObject({
      status: 503,
      code: 'rate_limiter_unavailable',
    });
    expect((await get(`${inverted.url}/things`, key.token, {}, 'POST')).status).toBe(200);
  });

  it.runIf(REDIS_URL)('shares limits between two app instances through Redis', async () => {
    const keyPrefix = `tenancy-test:${randomBytes(4).toString('hex')}`;
    const limits = { redisUrl: REDIS_URL!, keyPrefix, perTenant: { points: 4, durationSeconds: 60 } };
    const a = await guarded(limits);
    const b = await guarded(limits, 'express');
    const key = await tenantKey(plane, 'lim-redis', 'viewer');
    const statuses: number[] = [];
    for (const app of [a, b, a, b, a, b]) statuses.push((await get(`${app.url}/whoami`, key.token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  });
});
