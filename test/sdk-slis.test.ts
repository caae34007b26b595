/**
 * The SDK's SLI recorder against a real control plane (PGlite, and PostgreSQL when
 * TENANCY_TEST_DATABASE_URL is set): every request the middleware admits is counted for its
 * tenant, 5xx as errors, with its latency; a flush sends minute buckets to `POST /v1/slis`;
 * the tenant's SDK-sourced SLO then reads them. A tenant key may send only its own tenant's.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy, type Tenancy, tenancyFastify } from '../src/sdk/index.js';
import { get } from './sdk-apps.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, tenantKey } from './support/http.js';

describe.each(engines())('SDK SLIs on %s', (engine) => {
  let plane: TestPlane;
  let tenancy: Tenancy;
  let app: FastifyInstance;
  let appUrl: string;
  let token: string;

  beforeAll(async () => {
    plane = await startTestPlane(engine, { listen: true, start: { slo: { evaluateIntervalMs: 0 } } });
    await createActive(plane, 'sli-a');
    await createActive(plane, 'sli-b');
    token = (await tenantKey(plane, 'sli-a', 'viewer')).token;
    const applied = await call(plane, 'POST', '/v1/apply', {
      items: [
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'SLO',
            metadata: { tenant: 'sli-a', name: 'app' },
            spec: { objective: 'availability', target: 0.9, source: 'sdk', window: '1d', minEvents: 1 },
          },
        },
      ],
    });
    expect(applied.statusCode, applied.body).toBe(200);
    const key = await call(plane, 'POST', '/v1/api-keys', { name: 'sli app', role: 'platform-operator' });
    tenancy = await createTenancy({
      controlPlane: { url: plane.url, token: key.json().token },
      events: { pollIntervalMs: 100 },
      usage: { enabled: false },
      slis: { flushIntervalMs: 60_000 },
    });
    app = Fastify();
    tenancyFastify(app, tenancy);
    app.get('/ok', async () => ({ ok: true }));
    app.get('/boom', async (_request, reply) => reply.code(503).send({ ok: false }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    appUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await tenancy?.close();
    await plane?.stop();
  });

  it('counts admitted requests per tenant and sends them as minute buckets', async () => {
    for (let i = 0; i < 8; i++) expect((await get(`${appUrl}/ok`, token)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await get(`${appUrl}/boom`, token)).status).toBe(503);
    // A refused request (no credentials) never reaches the tenant's SLI.
    expect((await get(`${appUrl}/ok`, 'nope')).status).toBe(401);
    expect(tenancy.slis.stats().buckets).toBe(1);
    await tenancy.slis.flush();
    expect(tenancy.slis.stats()).toMatchObject({ buckets: 0, pending: 0, sent: 1, dropped: 0 });
    await plane.slo.slis.flush();
    const [status] = (await call(plane, 'GET', '/v1/tenants/sli-a/slos')).json().items;
    expect(status).toMatchObject({ name: 'app', window: { events: 10 }, sli: 0.8 });
    expect(status.errorBudget.status).toBe('exhausted');
  });

  it('lets a tenant key send only its own buckets', async () => {
    const own = (await tenantKey(plane, 'sli-b', 'operator')).token;
    const bucket = (tenantId: string) => ({
      tenantId,
      minute: new Date().toISOString(),
      total: 1,
      errors: 0,
      latency: [1],
    });
    expect((await call(plane, 'POST', '/v1/slis', { buckets: [bucket('sli-b')] }, { token: own })).statusCode).toBe(
      202,
    );
    const other = await call(plane, 'POST', '/v1/slis', { buckets: [bucket('sli-a')] }, { token: own });
    expect(expectProblem(other, 400, 'validation_failed').errors[0].path).toBe('/buckets/0/tenantId');
  });
});
