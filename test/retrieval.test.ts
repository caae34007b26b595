/**
 * Retrieval through the API: corpora per tenant, documents ingested into the tenant's own
 * place (its schema, as its own role), full-text search, idempotent ingest, delete, bad
 * input, and isolation between tenants, on PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolationContext } from '../src/isolation/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, tenantKey, waitForPhase } from './support/http.js';

describe.each(engines())('retrieval on %s', (engine) => {
  let plane: TestPlane;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    plane = await startTestPlane(engine);
    for (const t of ['rag-a', 'rag-b']) {
      await createActive(plane, t);
      await waitForPhase(plane, t, 'active');
      keys[t] = (await tenantKey(plane, t, 'operator')).token;
    }
  }, 90_000);

  afterAll(async () => {
    await plane?.stop();
  });

  const ingest = (tenant: string, corpus: string, doc: Record<string, unknown>) =>
    call(plane, 'POST', `/v1/tenants/${tenant}/corpora/${corpus}/documents`, doc, { token: keys[tenant]! });
  const retrieve = (tenant: string, body: Record<string, unknown>) =>
    call(plane, 'POST', `/v1/tenants/${tenant}/retrieve`, body, { token: keys[tenant]! });

  it("ingests into the tenant's own schema and finds the best chunks", async () => {
    const put = await call(
      plane,
      'PUT',
      '/v1/tenants/rag-a/corpora/handbook',
      { chunkSize: 64, chunkOverlap: 8 },
      { token: keys['rag-a']! },
    );
    expect(put.statusCode, put.body).toBe(201);
    expect(put.json().config).toEqual({ chunkSize: 64, chunkOverlap: 8, language: 'english' });
    const long = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} talks about invoices and refunds.`).join('\n\n');
    const first = await ingest('rag-a', 'handbook', {
      id: 'billing',
      text: long,
      source: { uri: 'https://docs.example/billing' },
      metadata: { team: 'finance' },
    });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ status: 'indexed', action: 'create' });
    expect(first.json().chunks).toBeGreaterThan(3);
    const html = Buffer.from(
      '<html><body><h1>Vacation policy</h1><p>Employees get <b>thirty</b> days of vacation.</p><script>alert(1)</script></body></html>',
    ).toString('base64');
    expect(
      (
        await ingest('rag-a', 'handbook', {
          id: 'vacation',
          content: html,
          contentType: 'text/html',
          source: { uri: 'https://docs.example/hr' },
        })
      ).statusCode,
    ).toBe(201);
    const found = await retrieve('rag-a', { corpus: 'handbook', query: 'how many vacation days', k: 3 });
    expect(found.statusCode, found.body).toBe(200);
    const top = found.json().items[0];
    expect(top).toMatchObject({
      documentId: 'vacation',
      chunkId: 'vacation#1',
      source: { uri: 'https://docs.example/hr' },
    });
    expect(top.text).toContain('thirty days of vacation');
    expect(top.text).not.toContain('alert');
    expect(top.provenance.contentSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(found.json().dropped).toEqual([]);
    const filtered = await retrieve('rag-a', { corpus: 'handbook', query: 'refunds', filter: { team: 'finance' } });
    expect(filtered.json().items.every((i: { documentId: string }) => i.documentId === 'billing')).toBe(true);
    expect(
      (await retrieve('rag-a', { corpus: 'handbook', query: 'refunds', filter: { team: 'hr' } })).json().items,
    ).toEqual([]);
    // The chunks are in the tenant's own schema, readable as its role.
    const tenant = await plane.registry.get('rag-a');
    const ctx = isolationContext('rag-a', tenant.spec, tenant.status.placement?.profile);
    const rows = await plane.resources.databases.withTenant(ctx, (s) =>
      s.query<{ n: number }>('select count(*)::int as n from tenancy_corpus_chunks'),
    );
    expect(rows[0]!.n).toBe(first.json().chunks + 1);
  });

  it('is idempotent by document id and content, and deletes a document with its chunks', async () => {
    const doc = { id: 'faq', text: 'Refunds take five business days.', source: { uri: 'https://docs.example/faq' } };
    expect((await ingest('rag-a', 'handbook', doc)).json().action).toBe('create');
    expect((await ingest('rag-a', 'handbook', doc)).json().action).toBe('unchanged');
    expect((await ingest('rag-a', 'handbook', { ...doc, text: 'Refunds take ten business days.' })).json().action).toBe(
      'update',
    );
    const got = await call(plane, 'GET', '/v1/tenants/rag-a/corpora/handbook/documents/faq', undefined, {
      token: keys['rag-a']!,
    });
    expect(got.json()).toMatchObject({ id: 'faq', chunks: 1, signature: 'absent' });
    expect(
      (await retrieve('rag-a', { corpus: 'handbook', query: 'ten business days' })).json().items[0].documentId,
    ).toBe('faq');
    expect(
      (
        await call(plane, 'DELETE', '/v1/tenants/rag-a/corpora/handbook/documents/faq', undefined, {
          token: keys['rag-a']!,
        })
      ).statusCode,
    ).toBe(204);
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/rag-a/corpora/handbook/documents/faq', undefined, {
        token: keys['rag-a']!,
      }),
      404,
      'document_not_found',
    );
    expect((await retrieve('rag-a', { corpus: 'handbook', query: 'business' })).json().items).toEqual([]);
  });

  it("never reaches another tenant's corpus", async () => {
    // B has no corpus of that name; with its own key it cannot even name A.
    expectProblem(await retrieve('rag-b', { corpus: 'handbook', query: 'vacation' }), 404, 'corpus_not_found');
    expectProblem(
      await call(
        plane,
        'POST',
        '/v1/tenants/rag-a/retrieve',
        { corpus: 'handbook', query: 'vacation' },
        { token: keys['rag-b']! },
      ),
      404,
      'tenant_not_found',
    );
    // B's own corpus of the same name holds only B's documents.
    await call(plane, 'PUT', '/v1/tenants/rag-b/corpora/handbook', {}, { token: keys['rag-b']! });
    await ingest('rag-b', 'handbook', {
      id: 'b-doc',
      text: 'Vacation at B is unlimited.',
      source: { uri: 'https://b.example' },
    });
    const items = (await retrieve('rag-b', { corpus: 'handbook', query: 'vacation' })).json().items;
    expect(items.map((i: { documentId: string }) => i.documentId)).toEqual(['b-doc']);
  });

  it('keeps a corpus through archive and restore, and refuses it while archived', async () => {
    await createActive(plane, 'rag-c');
    await waitForPhase(plane, 'rag-c', 'active');
    keys['rag-c'] = (await tenantKey(plane, 'rag-c', 'operator')).token;
    await call(plane, 'PUT', '/v1/tenants/rag-c/corpora/notes', {}, { token: keys['rag-c']! });
    await ingest('rag-c', 'notes', {
      id: 'n1',
      text: 'The lighthouse keeper logs every ship.',
      source: { uri: 'https://c.example' },
    });
    expect((await call(plane, 'POST', '/v1/tenants/rag-c/archive', {})).statusCode).toBe(200);
    await waitForPhase(plane, 'rag-c', 'archived', 30_000);
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/rag-c/retrieve', { corpus: 'notes', query: 'lighthouse' }),
      409,
      'tenant_archived',
    );
    expect((await call(plane, 'POST', '/v1/tenants/rag-c/restore', {})).statusCode).toBe(200);
    await waitForPhase(plane, 'rag-c', 'active', 30_000);
    const items = (
      await call(plane, 'POST', '/v1/tenants/rag-c/retrieve', { corpus: 'notes', query: 'lighthouse' })
    ).json().items;
    expect(items.map((i: { chunkId: string }) => i.chunkId)).toEqual(['n1#1']);
  }, 90_000);

  it('refuses bad input with 4xx and ingests nothing', async () => {
    const bad = async (doc: Record<string, unknown>, status: number, code: string) =>
      expectProblem(await ingest('rag-a', 'handbook', doc), status, code);
    const source = { uri: 'https://x.example' };
    await bad({ id: 'x', source }, 400, 'validation_failed');
    await bad({ id: 'x', text: 'a', content: 'YQ==', contentType: 'text/plain', source }, 400, 'validation_failed');
    await bad(
      { id: 'bin', content: Buffer.from([0, 1, 2, 3, 0, 255]).toString('base64'), contentType: 'text/plain', source },
      400,
      'invalid_document',
    );
    await bad(
      { id: 'utf', content: Buffer.from([0xc3, 0x28, 0x41]).toString('base64'), contentType: 'text/plain', source },
      400,
      'invalid_document',
    );
    await bad({ id: 'big', text: 'x'.repeat(4 * 1024 * 1024 + 1), source }, 413, 'payload_too_large');
    await bad({ id: '../etc', text: 'x', source }, 400, 'validation_failed');
    expectProblem(await ingest('rag-a', 'nope', { id: 'x', text: 'x', source }), 404, 'corpus_not_found');
    expectProblem(await retrieve('rag-a', { corpus: 'handbook', query: 'x'.repeat(5000) }), 400, 'validation_failed');
    expectProblem(await retrieve('rag-a', { corpus: 'handbook', query: 'x', k: 1_000_000 }), 400, 'validation_failed');
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/rag-a/corpora/Bad_Name', {}, { token: keys['rag-a']! }),
      400,
      'invalid_identifier',
    );
    for (const id of ['x', 'bin', 'utf', 'big'])
      expectProblem(
        await call(plane, 'GET', `/v1/tenants/rag-a/corpora/handbook/documents/${id}`, undefined, {
          token: keys['rag-a']!,
        }),
        404,
        'document_not_found',
      );
  });
});
