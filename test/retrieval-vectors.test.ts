/**
 * Vectors and hybrid ranking through the API, on the embedded warehouse (PGlite, pgvector) and
 * a PostgreSQL warehouse (a least-privileged control plane; pgvector where the server has it,
 * else the exact SQL fallback): vectors the caller supplies find a
 * chunk that shares no word with the query; full-text and vector ranks are fused by
 * reciprocal rank fusion; chunks and queries embedded through the tenant's model router are
 * charged to its budget, and a refusal of the router stores nothing; vectors of the wrong size
 * are refused with the field's path; vectors move with the tenant; tenant roles get no more
 * than USAGE on pgvector's schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolationContext } from '../src/isolation/index.js';
import type { TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, tenantKey, type Res } from './support/http.js';
import { startWarehousePlane, warehouseKinds } from './support/warehouse.js';

const RRF = (...ranks: number[]) => ranks.reduce((sum, rank) => sum + 1 / (60 + rank), 0);

const KINDS = warehouseKinds('retrieval vector tests').filter((k) => k !== 'engines');

describe.each(KINDS)('retrieval vectors on the %s warehouse', (kind) => {
  const engine = kind === 'embedded' ? 'pglite' : 'postgres';
  let plane: TestPlane;
  let close: (() => Promise<void>) | undefined;
  const keys: Record<string, string> = {};

  const apply = async (items: unknown[]) => {
    const res = await call(plane, 'POST', '/v1/apply', { items: items.map((manifest) => ({ manifest })) });
    expect(res.statusCode, res.body).toBe(200);
  };
  const router = (tenant: string, spec: Record<string, unknown>) => ({
    apiVersion: 'tenancy/v1',
    kind: 'TenantRouter',
    metadata: { tenant },
    spec,
  });
  const tenant = async (id: string, routerSpec?: Record<string, unknown>) => {
    await createActive(plane, id, { region: 'eu-west-1' });
    if (routerSpec) await apply([router(id, routerSpec)]);
    keys[id] = (await tenantKey(plane, id, 'operator')).token;
  };
  const as = (id: string) => ({ token: keys[id]! });
  const corpus = (id: string, name: string, config: Record<string, unknown>) =>
    call(plane, 'PUT', `/v1/tenants/${id}/corpora/${name}`, config, as(id));
  const ingest = (id: string, name: string, doc: Record<string, unknown>) =>
    call(plane, 'POST', `/v1/tenants/${id}/corpora/${name}/documents`, doc, as(id));
  const retrieve = (id: string, body: Record<string, unknown>) =>
    call(plane, 'POST', `/v1/tenants/${id}/retrieve`, body, as(id));
  const spent = async (id: string): Promise<number> =>
    (await call(plane, 'GET', `/v1/tenants/${id}/router`))
      .json()
      .budget.windows.find((w: { window: string }) => w.window === 'day').spentUsd;
  const inTenant = async <R>(id: string, text: string, params: unknown[] = []) => {
    const t = await plane.registry.get(id);
    const ctx = isolationContext(id, t.spec, t.status.placement?.profile);
    return plane.resources.databases.withTenant(ctx, (s) => s.query<R>(text, params));
  };
  /** What the tenant's own session can use: pgvector on PGlite always, on PostgreSQL only where installed. */
  const vectorMethod = async (id: string) =>
    (
      await inTenant(
        id,
        `select 1 from pg_catalog.pg_extension e where e.extname = 'vector'
            and pg_catalog.has_schema_privilege(e.extnamespace, 'USAGE')`,
      )
    ).length > 0
      ? 'pgvector'
      : 'sql';
  const ids = (res: Res) => res.json().items.map((i: { documentId: string }) => i.documentId);

  beforeAll(async () => {
    ({ plane, close } = await startWarehousePlane(kind));
    await apply([
      {
        apiVersion: 'tenancy/v1',
        kind: 'ModelProvider',
        metadata: { name: 'mock' },
        spec: {
          type: 'mock',
          region: 'eu-west-1',
          models: [
            { name: 'chat', inputUsdPerMTok: 0, outputUsdPerMTok: 1, contextWindow: 8192 },
            // $0.001 a token, so every embedding shows in the budget.
            { name: 'embed', inputUsdPerMTok: 1000, contextWindow: 8192, kind: 'embedding' },
          ],
        },
      },
    ]);
    await tenant('vec-a');
    await tenant('vec-r', { primary: { model: 'chat' }, embeddings: { model: 'embed' }, budget: { dailyUsd: 10 } });
    await tenant('vec-poor', {
      primary: { model: 'chat' },
      embeddings: { model: 'embed' },
      budget: { dailyUsd: 0.03 },
    });
    await tenant('vec-none');
  }, 90_000);

  afterAll(async () => {
    await close?.();
  });

  it('finds a chunk that shares no word with the query by the vectors the caller supplies', async () => {
    expect((await corpus('vec-a', 'pets', { embedding: { dimensions: 4 } })).statusCode).toBe(201);
    const docs = [
      { id: 'cats', text: 'Cats purr when they are content.', embedding: [1, 0, 0, 0] },
      { id: 'cars', text: 'Engines need their oil changed.', embedding: [0, 1, 0, 0] },
      { id: 'bread', text: 'Dough rises overnight in the fridge.', embedding: [0, 0, 1, 0] },
    ];
    for (const d of docs) {
      const res = await ingest('vec-a', 'pets', {
        id: d.id,
        chunks: [{ text: d.text, embedding: d.embedding }],
        source: { uri: `https://docs.example/${d.id}` },
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ status: 'indexed', action: 'create', chunks: 1 });
    }
    const query = 'feline companions';
    // Full-text search alone finds nothing: no word in common.
    const lexical = await retrieve('vec-a', { corpus: 'pets', query });
    expect(lexical.json()).toMatchObject({ items: [], ranking: { method: 'lexical' } });
    const found = await retrieve('vec-a', { corpus: 'pets', query, vector: [0.9, 0.2, 0.1, 0], k: 3 });
    expect(found.statusCode, found.body).toBe(200);
    expect(found.json().ranking).toEqual({ method: 'hybrid', vectors: await vectorMethod('vec-a') });
    expect(ids(found)).toEqual(['cats', 'cars', 'bread']);
    expect(found.json().items[0]).toMatchObject({
      chunkId: 'cats#1',
      text: 'Cats purr when they are content.',
      match: ['vector'],
      score: RRF(1),
    });
    if (engine === 'pglite') expect(found.json().ranking.vectors).toBe('pgvector');
    // The same chunks with the same vectors change nothing; other vectors update the document.
    const again = {
      id: 'cats',
      chunks: [{ text: docs[0]!.text, embedding: [1, 0, 0, 0] }],
      source: { uri: 'https://docs.example/cats' },
    };
    expect((await ingest('vec-a', 'pets', again)).json().action).toBe('unchanged');
    expect(
      (await ingest('vec-a', 'pets', { ...again, chunks: [{ text: docs[0]!.text, embedding: [0, 0, 0, 1] }] })).json()
        .action,
    ).toBe('update');
    expect(ids(await retrieve('vec-a', { corpus: 'pets', query, vector: [0, 0, 0, 1], k: 1 }))).toEqual(['cats']);
  });

  it('fuses the full-text and the vector ranks by reciprocal rank fusion, then the guard keeps k', async () => {
    await corpus('vec-a', 'hybrid', { embedding: { dimensions: 3 } });
    const chunks: Record<string, { text: string; embedding: number[] }> = {
      // Full-text rank 1 (both words, adjacent), vector rank 3.
      a: { text: 'Refund invoices.', embedding: [0, 0, 1] },
      // Vector rank 1, no word of the query.
      b: { text: 'Money back guarantee for every order.', embedding: [1, 0, 0] },
      // Full-text rank 2 (both words, far apart), vector rank 2.
      c: { text: 'A refund is paid to the card that settled the original invoices.', embedding: [0.8, 0.6, 0] },
    };
    for (const [id, chunk] of Object.entries(chunks))
      expect(
        (await ingest('vec-a', 'hybrid', { id, chunks: [chunk], source: { uri: `https://docs.example/${id}` } }))
          .statusCode,
      ).toBe(201);
    const res = await retrieve('vec-a', { corpus: 'hybrid', query: 'refund invoices', vector: [1, 0, 0], k: 3 });
    expect(res.statusCode, res.body).toBe(200);
    expect(
      res
        .json()
        .items.map((i: { documentId: string; match: string[]; score: number }) => [
          i.documentId,
          i.match,
          Number(i.score.toFixed(12)),
        ]),
    ).toEqual([
      ['a', ['lexical', 'vector'], Number(RRF(1, 3).toFixed(12))],
      ['c', ['lexical', 'vector'], Number(RRF(2, 2).toFixed(12))],
      ['b', ['vector'], Number(RRF(1).toFixed(12))],
    ]);
    expect(
      ids(await retrieve('vec-a', { corpus: 'hybrid', query: 'refund invoices', vector: [1, 0, 0], k: 1 })),
    ).toEqual(['a']);
    // A metadata filter applies to both lists.
    await ingest('vec-a', 'hybrid', {
      id: 'd',
      chunks: [{ text: 'Refund invoices twice.', embedding: [1, 0, 0] }],
      source: { uri: 'https://docs.example/d' },
      metadata: { team: 'finance' },
    });
    expect(
      ids(
        await retrieve('vec-a', {
          corpus: 'hybrid',
          query: 'refund invoices',
          vector: [1, 0, 0],
          filter: { team: 'finance' },
        }),
      ),
    ).toEqual(['d']);
  });

  it("embeds chunks and queries through the tenant's model router, charged to its budget", async () => {
    const put = await corpus('vec-r', 'kb', { chunkSize: 64, embedding: { model: 'embed', dimensions: 8 } });
    expect(put.statusCode, put.body).toBe(201);
    expect(put.json().config.embedding).toEqual({ model: 'embed', dimensions: 8 });
    const before = await spent('vec-r');
    const texts = [
      'Quarterly revenue grew by twelve percent.',
      'The office moves to Lisbon in May.',
      'Refunds are paid within five days.',
    ];
    const doc = { id: 'memo', chunks: texts.map((text) => ({ text })), source: { uri: 'https://docs.example/memo' } };
    const first = await ingest('vec-r', 'kb', doc);
    expect(first.statusCode, first.body).toBe(201);
    const afterIngest = await spent('vec-r');
    expect(afterIngest).toBeGreaterThan(before);
    const stored = await inTenant<{ seq: number; n: number; norm: number }>(
      'vec-r',
      `select seq, cardinality(embedding) as n, (select sqrt(sum(x * x)) from unnest(embedding) as u(x))::float8 as norm
         from tenancy_corpus_chunks where corpus = 'kb' order by seq`,
    );
    expect(stored.map((r) => r.n)).toEqual([8, 8, 8]);
    for (const r of stored) expect(r.norm).toBeCloseTo(1, 5);
    // Unchanged: the router is not called again.
    expect((await ingest('vec-r', 'kb', doc)).json().action).toBe('unchanged');
    expect(await spent('vec-r')).toBe(afterIngest);
    // The query is embedded by the same model: the chunk with the same text is the nearest, and also a full-text match.
    const res = await retrieve('vec-r', { corpus: 'kb', query: texts[1]!, k: 3 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().ranking.method).toBe('hybrid');
    expect(res.json().items[0]).toMatchObject({ chunkId: 'memo#2', match: ['lexical', 'vector'], score: RRF(1, 1) });
    expect(res.json().items).toHaveLength(3);
    expect(await spent('vec-r')).toBeGreaterThan(afterIngest);
    // Text is cut into chunks and embedded alike.
    const text = await ingest('vec-r', 'kb', {
      id: 'long',
      text: Array.from({ length: 30 }, (_, i) => `Sentence ${i} is about the travel policy.`).join(' '),
      source: { uri: 'https://docs.example/long' },
    });
    expect(text.statusCode, text.body).toBe(201);
    const [n] = await inTenant<{ n: number }>(
      'vec-r',
      `select count(*)::int as n from tenancy_corpus_chunks
        where corpus = 'kb' and document_id = 'long' and embedding is not null`,
    );
    expect(n!.n).toBe(text.json().chunks);
    expect(text.json().chunks).toBeGreaterThan(1);
  });

  it("refuses an ingest the tenant's router refuses (budget exhausted, no router), storing nothing", async () => {
    await corpus('vec-poor', 'kb', { embedding: { model: 'embed' } });
    const small = await ingest('vec-poor', 'kb', { id: 'small', text: 'Short note.', source: { uri: 'https://x/s' } });
    expect(small.statusCode, small.body).toBe(201);
    const spentSmall = await spent('vec-poor');
    expect(spentSmall).toBeGreaterThan(0);
    const big = await ingest('vec-poor', 'kb', {
      id: 'big',
      text: Array.from({ length: 20 }, (_, i) => `Paragraph ${i} of a long report on budgets.`).join('\n\n'),
      source: { uri: 'https://x/b' },
    });
    expectProblem(big, 429, 'budget_exhausted');
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/vec-poor/corpora/kb/documents/big', undefined, as('vec-poor')),
      404,
      'document_not_found',
    );
    expect(
      await inTenant<{ n: number }>(
        'vec-poor',
        `select count(*)::int as n from tenancy_corpus_chunks where corpus = 'kb' and document_id = 'big'`,
      ),
    ).toEqual([{ n: 0 }]);
    expect(await spent('vec-poor')).toBe(spentSmall);
    // The query needs the router too.
    expectProblem(await retrieve('vec-poor', { corpus: 'kb', query: 'budgets '.repeat(40) }), 429, 'budget_exhausted');
    // A tenant without a model router.
    await corpus('vec-none', 'kb', { embedding: { model: 'embed' } });
    expectProblem(
      await ingest('vec-none', 'kb', { id: 'x', text: 'Anything.', source: { uri: 'https://x/x' } }),
      409,
      'router_not_configured',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/vec-none/corpora/kb/documents/x', undefined, as('vec-none')),
      404,
      'document_not_found',
    );
  });

  it('refuses vectors of the wrong size or where the corpus has none, naming the field', async () => {
    await corpus('vec-a', 'dims', { embedding: { dimensions: 4 } });
    await corpus('vec-a', 'plain', {});
    const refused = (res: Res, paths: string[]) =>
      expect(
        expectProblem(res, 400, 'validation_failed').errors.map((e: { path: string }) => e.path),
        res.body,
      ).toEqual(paths);
    const doc = (id: string, body: Record<string, unknown>) => ({ id, source: { uri: `https://x/${id}` }, ...body });
    const one = { text: 'one', embedding: [1, 0, 0, 0] };
    refused(await ingest('vec-a', 'dims', doc('w', { chunks: [one, { text: 'two', embedding: [1, 0, 0] }] })), [
      '/chunks/1/embedding',
    ]);
    refused(await retrieve('vec-a', { corpus: 'dims', query: 'one', vector: [1, 0, 0, 0, 0] }), ['/vector']);
    refused(await retrieve('vec-a', { corpus: 'plain', query: 'one', vector: [1, 0, 0, 0] }), ['/vector']);
    refused(await ingest('vec-a', 'plain', doc('p', { chunks: [one] })), ['/chunks/0/embedding']);
    // Every chunk has a vector or none has.
    refused(await ingest('vec-a', 'dims', doc('m', { chunks: [one, { text: 'two' }] })), ['/chunks/1/embedding']);
    // A corpus whose vectors come from callers takes no text to embed.
    refused(await ingest('vec-a', 'dims', doc('t', { text: 'one' })), ['/chunks']);
    refused(await ingest('vec-a', 'dims', doc('b', { text: 'one', chunks: [one] })), ['/text']);
    refused(await retrieve('vec-a', { corpus: 'dims', query: 'one', vector: [0, 0, 0, 0] }), ['/vector']);
    refused(await corpus('vec-a', 'bad', { embedding: {} }), ['/embedding']);
    // Without configured dimensions, the model's own size (the mock's 16) is the corpus's once stored.
    await corpus('vec-r', 'native', { embedding: { model: 'embed' } });
    expect(
      (await ingest('vec-r', 'native', { id: 'n', text: 'Native size.', source: { uri: 'https://x/n' } })).statusCode,
    ).toBe(201);
    const native = await retrieve('vec-r', { corpus: 'native', query: 'size', vector: [1, 2, 3] });
    refused(native, ['/vector']);
    expect(native.json().errors[0].message).toBe('must have 16 dimensions');
    // Nothing of the refused documents was stored.
    expect(
      await inTenant<{ id: string }>(
        'vec-a',
        `select id from tenancy_corpus_documents where corpus in ('dims', 'plain')`,
      ),
    ).toEqual([]);
  });

  it('ingests pre-chunked documents with vectors in a batch job, and keeps their text as sent', async () => {
    await corpus('vec-a', 'batch', { embedding: { dimensions: 2 } });
    const batch = (documents: unknown[]) =>
      call(plane, 'POST', '/v1/tenants/vec-a/corpora/batch/batches', { documents }, as('vec-a'));
    const doc = (id: string, embedding: number[]) => ({
      id,
      chunks: [
        { text: `${id} first part`, embedding },
        { text: `${id} second part`, embedding: [embedding[1]!, embedding[0]!] },
      ],
      source: { uri: `https://x/${id}` },
    });
    // A chunk that cannot be read refuses the whole batch, naming it.
    const bad = await batch([doc('north', [1, 0]), { ...doc('south', [0, 1]), chunks: [{ text: 'a\u0000b' }] }]);
    expect(expectProblem(bad, 400, 'invalid_document').errors[0].path).toBe('/documents/1/chunks/0/text');
    // Vectors of the wrong size fail that document only.
    const res = await batch([doc('north', [1, 0]), doc('south', [0, 1]), doc('odd', [1, 0, 0])]);
    expect(res.statusCode, res.body).toBe(202);
    let job: any;
    for (const deadline = Date.now() + 30_000; ; ) {
      job = (await call(plane, 'GET', `/v1/jobs/${res.json().id}`, undefined, as('vec-a'))).json();
      if (job.state === 'succeeded' || job.state === 'failed' || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(job.result).toMatchObject({ created: 2, failed: 1, failures: [{ id: 'odd', code: 'validation_failed' }] });
    const found = await retrieve('vec-a', { corpus: 'batch', query: 'nothing in common', vector: [0, 1], k: 2 });
    expect(found.json().items.map((i: { chunkId: string }) => i.chunkId)).toEqual(['north#2', 'south#1']);
    const content = await call(
      plane,
      'GET',
      '/v1/tenants/vec-a/corpora/batch/documents/north/content',
      undefined,
      as('vec-a'),
    );
    expect(content.body).toBe('north first part\n\nnorth second part');
  });

  it('moves vectors with the tenant and ranks them the same in its dedicated place', async () => {
    const query = { corpus: 'hybrid', query: 'refund invoices', vector: [1, 0, 0], k: 4 };
    const before = (await retrieve('vec-a', query)).json();
    expect((await call(plane, 'PATCH', '/v1/tenants/vec-a', { spec: { profile: 'st-dedicated' } })).statusCode).toBe(
      200,
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      const t = (await call(plane, 'GET', '/v1/tenants/vec-a')).json();
      if (
        t.status.placement?.profile === 'st-dedicated' &&
        !t.status.placement.movingFrom &&
        t.status.observedGeneration === t.metadata.generation
      )
        break;
      if (Date.now() > deadline) throw new Error(`not moved: ${JSON.stringify(t.status)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = (await retrieve('vec-a', query)).json();
    expect(after.items).toEqual(before.items);
    expect(after.ranking).toEqual({ method: 'hybrid', vectors: await vectorMethod('vec-a') });
    if (engine === 'pglite') expect(after.ranking.vectors).toBe('pgvector');
  }, 90_000);

  it.runIf(engine === 'pglite')("gives tenant roles no more than USAGE on pgvector's schema", async () => {
    await expect(inTenant('vec-r', 'create table tenancy_vector.planted (a int)')).rejects.toThrow(/permission denied/);
    await expect(
      inTenant('vec-r', 'create function tenancy_vector.f() returns int language sql as $$ select 1 $$'),
    ).rejects.toThrow(/permission denied/);
    expect(
      await inTenant<{ usage: boolean; create: boolean }>(
        'vec-r',
        `select pg_catalog.has_schema_privilege('tenancy_vector', 'USAGE') as usage,
                pg_catalog.has_schema_privilege('tenancy_vector', 'CREATE') as create`,
      ),
    ).toEqual([{ usage: true, create: false }]);
  });
});
