/**
 * Usage and quotas through the SDK against a running control plane: every admitted request
 * becomes a `requests` meter (buffered, flushed on a timer and on close, counted once),
 * the buffer is bounded and one refused tenant does not hold back the others, the monthly
 * cost cap refuses writes once a cost alert is raised (and a raised cap applies without a
 * restart), counted quotas are reserved from handlers and checked locally, and object
 * writes through `tenancy.objects` are held to the storage quota.
 */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTenancy,
  currentTenant,
  PollingEventFeed,
  QuotaGuard,
  TenancyClient,
  tenancyFastify,
  toProblem,
  UsageMeter,
  type Tenancy,
  type TenantContext,
} from '../src/sdk/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, manifest, tenantKey, waitForPhase } from './support/http.js';
import { get, problemOf, startGuardedApp } from './sdk-apps.js';

async function until(fn: () => Promise<boolean>, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** An app whose handlers use the SDK's quota and object APIs. */
async function quotaApp(tenancy: Tenancy): Promise<{ url: string; app: FastifyInstance }> {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
  tenancyFastify(app, tenancy);
  app.setErrorHandler((error, request, reply) => {
    const p = toProblem(error, request.url, request.id);
    return reply.code(p.status).headers(p.headers).send(p.body);
  });
  app.post('/projects', async (_request, reply) => reply.code(201).send(await tenancy.quotas.reserve('maxProjects')));
  app.post<{ Querystring: { count: string } }>('/users', async (request, reply) =>
    reply.code(201).send(tenancy.quotas.admit('maxUsers', { current: Number(request.query.count) })),
  );
  app.put<{ Params: { '*': string } }>('/files/*', async (request, reply) =>
    reply
      .code(201)
      .send(await tenancy.objects.put(request.params['*'], request.body as Buffer, { contentType: 'text/plain' })),
  );
  app.get<{ Params: { '*': string } }>('/files/*', async (request, reply) => {
    const object = await tenancy.objects.get(request.params['*']);
    if (!object) return reply.code(404).send({ missing: true });
    return reply.type(object.contentType).send(object.body);
  });
  app.get('/tenant', async () => ({ id: currentTenant().id }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, app };
}

describe.each(engines())('SDK usage metering and quotas on %s', (engine) => {
  let plane: TestPlane;
  let appToken: string;
  const closers: Array<() => Promise<void>> = [];

  async function sdk(
    options: Parameters<typeof createTenancy>[0]['usage'] = {},
    quotas: Parameters<typeof createTenancy>[0]['quotas'] = {},
  ): Promise<Tenancy> {
    const tenancy = await createTenancy({
      controlPlane: { url: plane.url, token: appToken },
      events: { pollIntervalMs: 50 },
      usage: { flushIntervalMs: 100, ...options },
      quotas,
    });
    closers.push(() => tenancy.close());
    return tenancy;
  }

  const totalOf = async (tenant: string, resource: string): Promise<number> => {
    const usage = (await call(plane, 'GET', `/v1/tenants/${tenant}/usage`)).json();
    return usage.totals.find((t: any) => t.resource === resource)?.amount ?? 0;
  };

  beforeAll(async () => {
    plane = await startTestPlane(engine, { listen: true, start: { manualSampler: true } });
    // Created together and provisioned concurrently, then awaited (setup stays short on a loaded machine).
    const tenants: Array<[string, Record<string, unknown>]> = [
      ['meter-a', {}],
      ['meter-b', {}],
      ['cap-a', { quotas: { maxCostPerMonthUsd: 1 } }],
      ['count-a', { quotas: { maxProjects: 2, maxUsers: 5, storageLimitBytes: 100 } }],
    ];
    for (const [id, spec] of tenants)
      expect((await call(plane, 'POST', '/v1/tenants', manifest(id, spec))).statusCode).toBe(201);
    for (const [id] of tenants) await waitForPhase(plane, id, 'active', 60_000);
    appToken = (await call(plane, 'POST', '/v1/api-keys', { name: 'app', role: 'platform-operator' })).json().token;
  }, 120_000);

  afterAll(async () => {
    // Apps and SDK instances are independent of each other: closed together, then the plane.
    await Promise.all(closers.map((close) => close().catch(() => undefined)));
    await plane?.stop();
  }, 120_000);

  it('meters every admitted request per tenant, flushed periodically and on close, each counted once', async () => {
    const tenancy = await sdk();
    const app = await startGuardedApp('fastify', tenancy);
    closers.push(() => app.close());
    const a = await tenantKey(plane, 'meter-a', 'viewer');
    const b = await tenantKey(plane, 'meter-b', 'owner');
    for (let i = 0; i < 20; i++) expect((await get(`${app.url}/whoami`, a.token)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await get(`${app.url}/things`, b.token, {}, 'POST')).status).toBe(200);
    // A refused request (no credential) is not the tenant's usage.
    expect((await get(`${app.url}/whoami`, null)).status).toBe(401);
    await until(
      async () => (await totalOf('meter-a', 'requests')) === 20 && (await totalOf('meter-b', 'requests')) === 5,
    );
    for (let i = 0; i < 3; i++) await get(`${app.url}/whoami`, a.token);
    await tenancy.close();
    expect(await totalOf('meter-a', 'requests')).toBe(23);
    expect(tenancy.usage.stats()).toMatchObject({ aggregated: 0, pending: 0, dropped: 0 });
    // A flush after everything was delivered sends nothing twice.
    await tenancy.usage.flush();
    expect(await totalOf('meter-a', 'requests')).toBe(23);
    const audit = (await call(plane, 'GET', '/v1/audit?tenant=meter-a&action=usage.record&limit=50')).json().items;
    expect(audit.length).toBeGreaterThan(0);
    expect(audit[0].actor).toMatch(/^apikey:/);
  });

  it('keeps the buffer bounded, retries what failed with the same ids, drops only a refused tenant, and lets writes through when the cost cannot be read', async () => {
    const offline = new UsageMeter(
      new TenancyClient({ url: `http://127.0.0.1:${await closedPort()}`, token: appToken, timeoutMs: 500 }),
      { maxPending: 5, onError: () => undefined },
    );
    for (let i = 0; i < 8; i++) offline.record('meter-a', 'tokens_in', 1, { id: `bounded-${i}` });
    await offline.flush();
    expect(offline.stats()).toMatchObject({ pending: 5, dropped: 3, sent: 0 });
    // A cost that cannot be read lets writes through, and is not read again on every write.
    const unreachable = new TenancyClient({
      url: `http://127.0.0.1:${await closedPort()}`,
      token: appToken,
      timeoutMs: 500,
    });
    const failures: unknown[] = [];
    const guard = new QuotaGuard(unreachable, new PollingEventFeed(unreachable), { onError: (e) => failures.push(e) });
    const ctx = { id: 'meter-a', quotas: { maxCostPerMonthUsd: 1 } } as TenantContext;
    await guard.checkCost(ctx, true);
    await guard.checkCost(ctx, true);
    expect(failures).toHaveLength(1);

    const errors: unknown[] = [];
    const meter = new UsageMeter(new TenancyClient({ url: plane.url, token: appToken }), {
      onError: (e) => errors.push(e),
    });
    meter.record('meter-b', 'tokens_in', 7, { id: 'mixed-1' });
    meter.record('ghost-tenant', 'tokens_in', 1, { id: 'mixed-2' });
    meter.record('meter-b', 'tokens_in', 3);
    meter.record('meter-b', 'tokens_in', 4);
    await meter.flush();
    expect(meter.stats()).toMatchObject({ pending: 0, dropped: 1, sent: 2 });
    expect(errors).toHaveLength(1);
    expect(await totalOf('meter-b', 'tokens_in')).toBe(14);
    // Recording the same id again is harmless.
    meter.record('meter-b', 'tokens_in', 7, { id: 'mixed-1' });
    await meter.flush();
    expect(await totalOf('meter-b', 'tokens_in')).toBe(14);
    expect(() => meter.record('meter-b', 'Bad Name')).toThrow(/not a resource name/);
    expect(() => meter.record('meter-b', 'tokens_in', -1)).toThrow(/>= 0/);
  });

  it('refuses writes with 403 quota_exceeded once the monthly cost is over the cap; a raised cap applies without a restart', async () => {
    const tenancy = await sdk();
    const app = await startGuardedApp('express', tenancy);
    closers.push(() => app.close());
    const key = await tenantKey(plane, 'cap-a', 'owner');
    expect((await get(`${app.url}/things`, key.token, {}, 'POST')).status).toBe(200);
    await call(plane, 'POST', '/v1/tenants/cap-a/usage', {
      meters: [{ id: 'model-spend', resource: 'cost_usd', amount: 2.5, ts: new Date().toISOString() }],
    });
    await until(async () => (await get(`${app.url}/things`, key.token, {}, 'POST')).status === 403);
    const refused = await get(`${app.url}/things`, key.token, {}, 'POST');
    expect(problemOf(refused)).toMatchObject({ status: 403, code: 'quota_exceeded' });
    expect(refused.body).toMatchObject({ quota: 'maxCostPerMonthUsd', limit: 1, current: 2.5 });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await get(`${app.url}/whoami`, key.token)).status).toBe(200);
    expect(
      (await call(plane, 'PATCH', '/v1/tenants/cap-a', { spec: { quotas: { maxCostPerMonthUsd: 10 } } })).statusCode,
    ).toBe(200);
    await until(async () => (await get(`${app.url}/things`, key.token, {}, 'POST')).status === 200);
  });

  it('reserves counted quotas from handlers, checks local counts, and holds object writes to the storage quota', async () => {
    const tenancy = await sdk();
    const { url, app } = await quotaApp(tenancy);
    closers.push(() => app.close());
    const key = await tenantKey(plane, 'count-a', 'admin');
    const post = (path: string) => get(url + path, key.token, {}, 'POST');
    expect((await post('/projects')).body).toEqual({ quota: 'maxProjects', limit: 2, current: 1 });
    expect((await post('/projects')).status).toBe(201);
    const third = await post('/projects');
    expect(problemOf(third)).toMatchObject({ status: 409, code: 'quota_exceeded' });
    expect(third.body).toMatchObject({ quota: 'maxProjects', limit: 2, current: 2 });
    await call(plane, 'PATCH', '/v1/tenants/count-a', { spec: { quotas: { maxProjects: 3 } } });
    expect((await post('/projects')).body).toMatchObject({ limit: 3, current: 3 });

    expect((await post('/users?count=4')).status).toBe(201);
    const users = await post('/users?count=5');
    expect(problemOf(users)).toMatchObject({ status: 409, code: 'quota_exceeded' });
    expect(users.body).toMatchObject({ quota: 'maxUsers', limit: 5, current: 5, requested: 1 });

    const put = async (k: string, bytes: number) => {
      const res = await fetch(`${url}/files/${k}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${key.token}`, 'content-type': 'text/plain' },
        body: 'z'.repeat(bytes),
      });
      return { status: res.status, body: await res.json() };
    };
    expect(await put('notes/one.txt', 60)).toMatchObject({ status: 201, body: { key: 'notes/one.txt', size: 60 } });
    const over = await put('notes/two.txt', 60);
    expect(over).toMatchObject({
      status: 409,
      body: { code: 'quota_exceeded', quota: 'storageLimitBytes', limit: 100, current: 60 },
    });
    const back = await fetch(`${url}/files/notes/one.txt`, { headers: { authorization: `Bearer ${key.token}` } });
    expect(await back.text()).toBe('z'.repeat(60));
    expect(
      (await fetch(`${url}/files/notes/two.txt`, { headers: { authorization: `Bearer ${key.token}` } })).status,
    ).toBe(404);
  });
});
