/**
 * `tenancy.retrieve()` against a real control plane (PGlite, and PostgreSQL when
 * TENANCY_TEST_DATABASE_URL is set): from inside an app's request it searches that
 * request's tenant's corpus and finds the matching document first; another tenant's
 * request with the same corpus name sees only its own documents; the control plane's
 * refusal comes back as a `TenancyError`; outside a request the call is refused.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTenancy,
  currentTenant,
  tenancyFastify,
  TenancyError,
  type RetrieveResult,
  type Tenancy,
} from '../src/sdk/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, tenantKey } from './support/http.js';
import { get } from './sdk-apps.js';

/** What the app's `/search` route answers: the request's tenant and the retrieval, or the error it got. */
interface SearchAnswer {
  tenant: string;
  result?: RetrieveResult;
  error?: { isTenancyError: boolean; code: string; status: number; detail: string };
}

describe.each(engines())('tenancy.retrieve() on %s', (engine) => {
  let plane: TestPlane;
  let tenancy: Tenancy;
  let app: FastifyInstance;
  let appUrl: string;
  const tokens: Record<string, string> = {};

  /** Put a corpus and ingest documents into it, as the platform admin. */
  async function seed(tenant: string, corpus: string, docs: Array<{ id: string; text: string; uri: string }>) {
    const put = await call(plane, 'PUT', `/v1/tenants/${tenant}/corpora/${corpus}`, {});
    expect(put.statusCode, put.body).toBe(201);
    for (const d of docs) {
      const res = await call(plane, 'POST', `/v1/tenants/${tenant}/corpora/${corpus}/documents`, {
        id: d.id,
        text: d.text,
        source: { uri: d.uri },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
  }

  /** Call the app's `/search` as `tenant`'s caller. */
  async function search(tenant: string, params: Record<string, string>): Promise<SearchAnswer> {
    const res = await get(`${appUrl}/search?${new URLSearchParams(params)}`, tokens[tenant]!);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as SearchAnswer;
  }

  beforeAll(async () => {
    plane = await startTestPlane(engine, { listen: true });
    for (const t of ['sret-a', 'sret-b']) {
      await createActive(plane, t);
      tokens[t] = (await tenantKey(plane, t, 'viewer')).token;
    }
    await seed('sret-a', 'handbook', [
      {
        id: 'vacation',
        text: 'Employees get thirty days of paid vacation each year.',
        uri: 'https://a.example/hr',
      },
      {
        id: 'billing',
        text: 'Invoices are sent monthly and refunds take five days.',
        uri: 'https://a.example/billing',
      },
    ]);
    // The same corpus name in another tenant, with a document the same query also matches.
    await seed('sret-b', 'handbook', [
      { id: 'leave', text: 'Vacation requests go through the team lead.', uri: 'https://b.example/leave' },
    ]);
    const key = await call(plane, 'POST', '/v1/api-keys', { name: 'retrieval app', role: 'platform-operator' });
    expect(key.statusCode, key.body).toBe(201);
    tenancy = await createTenancy({
      controlPlane: { url: plane.url, token: key.json().token },
      events: { pollIntervalMs: 100 },
      usage: { enabled: false },
    });
    app = Fastify();
    tenancyFastify(app, tenancy);
    app.get('/search', async (request): Promise<SearchAnswer> => {
      const q = request.query as Record<string, string>;
      const tenant = currentTenant().id;
      try {
        const result = await tenancy.retrieve({
          corpus: q.corpus!,
          query: q.q!,
          ...(q.k !== undefined ? { k: Number(q.k) } : {}),
        });
        return { tenant, result };
      } catch (e) {
        const error = e as TenancyError;
        return {
          tenant,
          error: {
            isTenancyError: e instanceof TenancyError,
            code: error.code,
            status: error.status,
            detail: error.detail,
          },
        };
      }
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    appUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await tenancy?.close();
    await plane?.stop();
  });

  it("finds the matching document of the request's tenant first", async () => {
    const answer = await search('sret-a', { corpus: 'handbook', q: 'how many vacation days' });
    expect(answer.error).toBeUndefined();
    expect(answer.tenant).toBe('sret-a');
    const items = answer.result!.items;
    expect(items.length).toBeGreaterThan(0);
    expect(items[0]).toMatchObject({
      documentId: 'vacation',
      source: { uri: 'https://a.example/hr' },
      provenance: { contentSha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(items[0]!.text).toContain('thirty days of paid vacation');
    expect(answer.result!.dropped).toEqual([]);
    // `k` is sent when given: the billing document also matches "days", but only one item comes back.
    const both = await search('sret-a', { corpus: 'handbook', q: 'vacation days' });
    expect(both.result!.items.map((i) => i.documentId).sort()).toEqual(['billing', 'vacation']);
    const one = await search('sret-a', { corpus: 'handbook', q: 'vacation days', k: '1' });
    expect(one.result!.items.map((i) => i.documentId)).toEqual(['vacation']);
  });

  it("does not show another tenant's documents under the same corpus name", async () => {
    const answer = await search('sret-b', { corpus: 'handbook', q: 'vacation days' });
    expect(answer.error).toBeUndefined();
    expect(answer.tenant).toBe('sret-b');
    expect(answer.result!.items.map((i) => i.documentId)).toEqual(['leave']);
    expect(answer.result!.items[0]!.source.uri).toBe('https://b.example/leave');
  });

  it("turns the control plane's problem into a TenancyError", async () => {
    const answer = await search('sret-a', { corpus: 'no-such-corpus', q: 'vacation' });
    expect(answer.result).toBeUndefined();
    expect(answer.error).toMatchObject({ isTenancyError: true, code: 'corpus_not_found', status: 404 });
  });

  it('refuses outside a request with no_tenant_context', async () => {
    const outside = tenancy.retrieve({ corpus: 'handbook', query: 'vacation' });
    await expect(outside).rejects.toBeInstanceOf(TenancyError);
    await expect(outside).rejects.toMatchObject({
      code: 'no_tenant_context',
      message: expect.stringMatching(/outside a request admitted by the Tenancy middleware/),
    });
  });
});
