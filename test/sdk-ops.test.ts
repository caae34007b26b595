/**
 * The SDK's operational side against a real control plane (PGlite, and PostgreSQL when
 * TENANCY_TEST_DATABASE_URL is set): `tenantLogger()` lines carry tenant, request id and
 * env on Fastify and Express; Prometheus metrics keep the tenant label bounded; app audit
 * events land in the right tenant's stream in the hash chain and never in another's; the
 * OpenFeature provider serves flags with reasons, and a manifest change reaches a running
 * app through the event feed with ConfigurationChanged; fair scheduling in the middleware
 * serves a quiet tenant between a noisy one's queued requests and pushes back with 429.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { OpenFeature, ProviderEvents, type EventDetails } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditEvent,
  createTenancy,
  currentTenant,
  tenancyExpress,
  tenancyFastify,
  tenantLogger,
  TenancyFlagProvider,
  type Tenancy,
  type TenancyOptions,
} from '../src/sdk/index.js';
import { inRollout as inRolloutForTest } from '../src/tenants/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, tenantKey } from './support/http.js';
import { get, problemOf } from './sdk-apps.js';

async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  while (!(await fn())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

/** The flags a ConfigurationChanged event names. */
function flagsOf(details: EventDetails): string[] {
  return (details as { flagsChanged?: string[] }).flagsChanged ?? [];
}

/** A request that the test finishes by hand. */
interface Hold {
  tenant: string;
  finish(): void;
}

/** An app with the routes these tests need; `holds` are requests parked in `/hold`. */
async function startApp(
  tenancy: Tenancy,
  kind: 'fastify' | 'express' = 'fastify',
): Promise<{ url: string; holds: Hold[]; started: string[]; close(): Promise<void> }> {
  const holds: Hold[] = [];
  const started: string[] = [];
  const hold = async () => {
    const tenant = currentTenant().id;
    started.push(tenant);
    await new Promise<void>((finish) => holds.push({ tenant, finish }));
    return { tenant };
  };
  const log = async () => {
    tenantLogger().info({ step: 1 }, 'before await');
    await new Promise((r) => setTimeout(r, 1));
    tenantLogger().warn('after await');
    return { ok: true };
  };
  const flags = async () => {
    const client = OpenFeature.getClient();
    return {
      details: await client.getBooleanDetails('newEditor', false),
      missing: await client.getBooleanDetails('noSuchFlag', true),
      theme: await client.getStringDetails('theme', 'plain'),
    };
  };
  if (kind === 'fastify') {
    const app: FastifyInstance = Fastify();
    tenancyFastify(app, tenancy);
    app.get('/hold', hold);
    app.get('/log', log);
    app.get('/flags', flags);
    app.post('/invoices/:id/pay', async (request) => {
      const { id } = request.params as { id: string };
      return auditEvent({ action: 'invoice.paid', target: `invoice/${id}`, details: { amountCents: 4200 } });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      holds,
      started,
      close: () => app.close(),
    };
  }
  const app = express();
  app.use(tenancyExpress(tenancy));
  app.get('/log', async (_req, res) => void res.json(await log()));
  const server: Server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holds,
    started,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.each(engines())('SDK operations on %s', (engine) => {
  let plane: TestPlane;
  let appToken: string;
  const lines: Array<Record<string, unknown>> = [];
  const cleanups: Array<() => Promise<void>> = [];

  async function sdk(extra: Partial<TenancyOptions> = {}): Promise<Tenancy> {
    const tenancy = await createTenancy({
      controlPlane: { url: plane.url, token: appToken },
      events: { pollIntervalMs: 100 },
      logging: { env: 'test-env', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } },
      ...extra,
    });
    cleanups.push(() => tenancy.close());
    return tenancy;
  }

  beforeAll(async () => {
    plane = await startTestPlane(engine, { listen: true });
    await createActive(plane, 'ops-a');
    await createActive(plane, 'ops-b');
    await createActive(plane, 'ops-noisy', { plan: 'free', quotas: { maxConcurrentRequests: 10 } });
    await createActive(plane, 'ops-quiet', { plan: 'free' });
    const res = await call(plane, 'POST', '/v1/api-keys', { name: 'app', role: 'platform-operator' });
    appToken = res.json().token;
  }, 60_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await OpenFeature.close();
    await plane?.stop();
  }, 120_000);

  it.each(['fastify', 'express'] as const)(
    'tenantLogger() lines carry tenant_id, request_id and env on %s',
    async (kind) => {
      const tenancy = await sdk();
      const app = await startApp(tenancy, kind);
      cleanups.push(app.close);
      const a = await tenantKey(plane, 'ops-a', 'viewer');
      const b = await tenantKey(plane, 'ops-b', 'viewer');
      lines.length = 0;
      await Promise.all([
        get(`${app.url}/log`, a.token, { 'x-request-id': `log-a-${kind}` }),
        get(`${app.url}/log`, b.token, { 'x-request-id': `log-b-${kind}` }),
      ]);
      expect(lines).toHaveLength(4);
      for (const line of lines)
        expect(line).toMatchObject({
          env: 'test-env',
          tenant_id: expect.stringMatching(/^ops-[ab]$/),
          request_id: expect.stringMatching(/^log-[ab]-/),
        });
      // Each line has its own request's tenant, also after an await with another request interleaved.
      for (const line of lines)
        expect(String(line.request_id).startsWith(`log-${String(line.tenant_id).slice(-1)}-`)).toBe(true);
      expect(
        lines
          .filter((l) => l.msg === 'after await')
          .map((l) => l.tenant_id)
          .sort(),
      ).toEqual(['ops-a', 'ops-b']);
      // Outside a request: the base logger, with env and no tenant.
      expect(tenantLogger().bindings()).not.toHaveProperty('tenant_id');
    },
  );

  it('exports Prometheus metrics whose tenant label is bounded to the top tenants plus "other"', async () => {
    const tenancy = await sdk({ metrics: { topTenants: 1 } });
    const app = await startApp(tenancy);
    cleanups.push(app.close);
    const a = await tenantKey(plane, 'ops-a', 'viewer');
    const b = await tenantKey(plane, 'ops-b', 'viewer');
    for (let i = 0; i < 3; i++) await get(`${app.url}/log`, a.token);
    for (let i = 0; i < 2; i++) await get(`${app.url}/log`, b.token);
    await get(`${app.url}/log`, 'tnc_0123456789abcdef_nope');
    const text = await tenancy.metrics!.text();
    expect(text).toMatch(/tenancy_sdk_requests_total\{tenant="ops-a",outcome="admitted",code=""\} 3/);
    expect(text).toMatch(/tenancy_sdk_requests_total\{tenant="other",outcome="admitted",code=""\} 2/);
    expect(text).toMatch(/tenancy_sdk_requests_total\{tenant="none",outcome="refused",code="invalid_credentials"\} 1/);
    expect(text).toMatch(/tenancy_sdk_request_duration_seconds_count\{tenant="ops-a"\} 3/);
    expect(text).not.toContain('tenant="ops-b"');
  });

  it("writes app events into the request's tenant's audit stream, in the verified chain", async () => {
    const tenancy = await sdk();
    const app = await startApp(tenancy);
    cleanups.push(app.close);
    const a = await tenantKey(plane, 'ops-a', 'viewer');
    const res = await get(`${app.url}/invoices/inv-42/pay`, a.token, { 'x-request-id': 'pay-42' }, 'POST');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      action: 'app.invoice.paid',
      target: 'invoice/inv-42',
      tenantId: 'ops-a',
      correlationId: 'pay-42',
      outcome: 'success',
      details: { subject: a.id, data: { amountCents: 4200 } },
    });
    const stream = (await call(plane, 'GET', '/v1/audit?tenant=ops-a&action=app.invoice.paid')).json().items;
    expect(stream.map((r: any) => r.correlationId)).toContain('pay-42');
    expect((await call(plane, 'GET', '/v1/audit?tenant=ops-b&action=app.invoice.paid')).json().items).toEqual([]);
    expect((await call(plane, 'GET', '/v1/audit/verify')).json()).toMatchObject({ ok: true });
    // The event does not empty the SDK's context cache (it changes nothing about the tenant).
    const events = (await call(plane, 'GET', '/v1/events?limit=1000')).json().items;
    expect(events.some((e: any) => e.type === 'tenancy.audit.app_event' && e.subject === 'ops-a')).toBe(true);
  });

  it('refuses an app event for another tenant (404, nothing written), bad input (400 with paths), and roles without audit.write', async () => {
    const ownerA = await tenantKey(plane, 'ops-a', 'owner');
    const viewerA = await tenantKey(plane, 'ops-a', 'viewer');
    const before = (await call(plane, 'GET', '/v1/audit?tenant=ops-b&limit=1000'))
      .json()
      .items.filter((r: any) => r.action.startsWith('app.')).length;
    expectProblem(
      await call(
        plane,
        'POST',
        '/v1/tenants/ops-b/audit-events',
        { action: 'x.y', target: 't/1' },
        { token: ownerA.token },
      ),
      404,
      'tenant_not_found',
    );
    const after = (await call(plane, 'GET', '/v1/audit?tenant=ops-b&limit=1000'))
      .json()
      .items.filter((r: any) => r.action.startsWith('app.')).length;
    expect(after).toBe(before);
    const rows = async () =>
      Number(
        (
          await plane.database.db
            .selectFrom('audit_log')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const rowsBefore = await rows();
    const bad = expectProblem(
      await call(
        plane,
        'POST',
        '/v1/tenants/ops-a/audit-events',
        { action: 'Not An Action', target: 'has space', outcome: 'meh', details: { big: 'x'.repeat(9_000) } },
        { token: ownerA.token },
      ),
      400,
      'validation_failed',
    );
    expect(bad.errors.map((e: any) => e.path).sort()).toEqual(['/action', '/details', '/outcome', '/target']);
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/ops-a/audit-events', '{"action":', {
        token: ownerA.token,
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'invalid_json',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/ops-a/audit-events', ['x'], { token: ownerA.token }),
      400,
      'validation_failed',
    );
    expect(await rows()).toBe(rowsBefore);
    expectProblem(
      await call(
        plane,
        'POST',
        '/v1/tenants/ops-a/audit-events',
        { action: 'x.y', target: 't/1' },
        { token: viewerA.token },
      ),
      403,
      'forbidden',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/no-such-tenant/audit-events', { action: 'x.y', target: 't/1' }),
      404,
      'tenant_not_found',
    );
    const own = await call(
      plane,
      'POST',
      '/v1/tenants/ops-a/audit-events',
      { action: 'document.shared', target: 'doc/7' },
      { token: ownerA.token },
    );
    expect(own.statusCode, own.body).toBe(201);
    expect(own.json()).toMatchObject({
      tenantId: 'ops-a',
      action: 'app.document.shared',
      actor: `apikey:${ownerA.id}`,
    });
  });

  it('serves flags through OpenFeature with reasons, and a manifest change reaches the running app', async () => {
    const tenancy = await sdk();
    const provider = new TenancyFlagProvider(tenancy);
    await OpenFeature.setProviderAndWait(provider);
    const app = await startApp(tenancy);
    cleanups.push(app.close);
    const a = await tenantKey(plane, 'ops-a', 'viewer');
    const first = (await get(`${app.url}/flags`, a.token)).body;
    expect(first.details).toMatchObject({
      flagKey: 'newEditor',
      value: false,
      reason: 'ERROR',
      errorCode: 'FLAG_NOT_FOUND',
    });
    expect(first.missing).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    // Outside a request, targetingKey names the tenant; the plan's value is STATIC.
    expect(await OpenFeature.getClient().getBooleanDetails('sso', false, { targetingKey: 'ops-a' })).toMatchObject({
      value: true,
      reason: 'STATIC',
      variant: 'plan',
    });
    expect(await OpenFeature.getClient().getBooleanDetails('sso', false)).toMatchObject({
      value: false,
      reason: 'ERROR',
      errorCode: 'TARGETING_KEY_MISSING',
    });

    const changes: EventDetails[] = [];
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (details) => void changes.push(details!));
    const patched = await call(plane, 'PATCH', '/v1/tenants/ops-a', {
      spec: { features: { newEditor: { rollout: 100 }, theme: 'dark' } },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    const elapsed = await until(() => changes.some((c) => flagsOf(c).includes('newEditor')));
    expect(elapsed).toBeLessThan(2_000);
    expect(changes.find((c) => flagsOf(c).includes('newEditor'))).toMatchObject({
      flagsChanged: ['newEditor', 'theme'],
      metadata: { tenantId: 'ops-a' },
    });
    const second = (await get(`${app.url}/flags`, a.token)).body;
    expect(second.details).toMatchObject({ value: true, reason: 'SPLIT', variant: 'rollout-in' });
    expect(second.theme).toMatchObject({ value: 'dark', reason: 'TARGETING_MATCH', variant: 'tenant' });
    // The features document wins over the manifest.
    const doc = {
      apiVersion: 'tenancy/v1',
      kind: 'TenantFeatures',
      metadata: { tenant: 'ops-a' },
      spec: { flags: { theme: 'light' } },
    };
    expect((await call(plane, 'POST', '/v1/apply', { items: [{ manifest: doc }] })).statusCode).toBe(200);
    await until(() => changes.some((c) => flagsOf(c).join() === 'theme'));
    expect((await get(`${app.url}/flags`, a.token)).body.theme).toMatchObject({
      value: 'light',
      reason: 'TARGETING_MATCH',
    });
    // A rollout places tenants by the same stable hash on every replica and in the SDK.
    const outside = !inRolloutForTest('newEditor', 'ops-b', 30);
    await call(plane, 'PATCH', '/v1/tenants/ops-b', { spec: { features: { newEditor: { rollout: 30 } } } });
    const b = await tenantKey(plane, 'ops-b', 'viewer');
    await until(async () => (await get(`${app.url}/flags`, b.token)).body.details.errorCode === undefined);
    expect((await get(`${app.url}/flags`, b.token)).body.details).toMatchObject(
      outside ? { value: false, reason: 'DEFAULT' } : { value: true, reason: 'SPLIT' },
    );
    // A bad rollout spec is refused with its path, and changes nothing.
    const refused = expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/ops-b', { spec: { features: { newEditor: { rollout: 101 } } } }),
      400,
      'invalid_manifest',
    );
    expect(refused.errors).toEqual([
      { path: '/spec/features/newEditor/rollout', message: 'must be a percentage 0..100' },
    ]);
    expect((await call(plane, 'GET', '/v1/tenants/ops-b')).json().spec.features).toEqual({
      newEditor: { rollout: 30 },
    });
  });

  it("schedules fairly in the middleware: a quiet tenant goes between a noisy one's queued requests, and a full queue gets 429", async () => {
    const tenancy = await sdk({ limits: { scheduling: { capacity: 1, maxQueuedPerTenant: 3 } } });
    const app = await startApp(tenancy);
    cleanups.push(app.close);
    const noisy = await tenantKey(plane, 'ops-noisy', 'viewer');
    const quiet = await tenantKey(plane, 'ops-quiet', 'viewer');
    const pending: Array<Promise<{ status: number }>> = [];
    pending.push(get(`${app.url}/hold`, noisy.token));
    await until(() => app.holds.length === 1);
    for (let i = 0; i < 3; i++) pending.push(get(`${app.url}/hold`, noisy.token));
    await until(() => tenancy.limiter.queued('ops-noisy') === 3);
    const refused = await get(`${app.url}/hold`, noisy.token);
    expect(problemOf(refused)).toMatchObject({ status: 429, code: 'capacity_exceeded' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    pending.push(get(`${app.url}/hold`, quiet.token));
    await until(() => tenancy.limiter.queued('ops-quiet') === 1);
    // Finish one request at a time; the slot goes to the next in fair order.
    while (app.started.length < 5) {
      const n = app.started.length;
      app.holds.shift()!.finish();
      await until(() => app.started.length === n + 1);
    }
    app.holds.shift()!.finish();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    // FIFO would put the quiet tenant last; fair queuing serves it at the latest third.
    expect(app.started.indexOf('ops-quiet')).toBeLessThanOrEqual(2);
    expect(tenancy.limiter.inFlight('ops-noisy')).toBe(0);
  });
});
