/**
 * A tenant's corpora and retrieval:
 *
 * - `GET /v1/tenants/{id}/corpora`, `PUT|GET /v1/tenants/{id}/corpora/{corpus}`: corpora and
 *   their settings (chunk size and overlap, text-search language);
 * - `POST /v1/tenants/{id}/corpora/{corpus}/documents`: ingest one document (idempotent by id
 *   and content); `GET|DELETE .../documents/{docId}`;
 * - `POST /v1/tenants/{id}/retrieve`: the best chunks for a query.
 *
 * A tenant caller reaches only its own tenant; any other id answers 404.
 */
import type { FastifyInstance } from 'fastify';
import { validationError } from '../../errors.js';
import { z } from 'zod';
import {
  batchSchema,
  CORPUS_NAME,
  corpusConfigSchema,
  DOCUMENT_ID,
  documentSchema,
  requestRelease,
  retrieveSchema,
} from '../../retrieval/index.js';
import { parseOrThrow } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

/** Body limit of an ingest (a document of 4 MiB, base64 and JSON around it). */
export const INGEST_BODY_LIMIT_BYTES = 6 * 1024 * 1024;
/** Body limit of a batch (up to 1,000 documents, 32 MiB in all). */
export const BATCH_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

function corpusName(raw: string): string {
  if (!CORPUS_NAME.test(raw))
    throw validationError(
      'not a valid corpus name',
      [{ path: '/path/corpus', message: 'must be a lowercase name of letters, digits and "-"' }],
      'invalid_identifier',
    );
  return raw;
}

function documentId(raw: string): string {
  if (!DOCUMENT_ID.test(raw))
    throw validationError(
      'not a valid document id',
      [{ path: '/path/docId', message: 'must be 1..256 letters, digits, ".", "_", ":", "/", "-"' }],
      'invalid_identifier',
    );
  return raw;
}

export const quarantineQuerySchema = z.strictObject({
  limit: z.coerce.number().int('must be an integer').min(1, 'must be 1..500').max(500, 'must be 1..500').default(100),
  after: z.string().regex(DOCUMENT_ID, 'must be a document id').optional(),
});
export const releaseBodySchema = z
  .strictObject({ reason: z.string().min(1).max(1000, 'must be at most 1000 characters').optional() })
  .meta({ id: 'ReleaseRequest' });

/** Register the retrieval routes. */
export function retrievalRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const store = () => deps.retrieval.store;

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/corpora', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'corpus.read', id);
    await deps.tenants.registry.get(id);
    return { items: await store().listCorpora(id) };
  });

  app.put<{ Params: { id: string; corpus: string } }>('/v1/tenants/:id/corpora/:corpus', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'corpus.write', id);
    const name = corpusName(request.params.corpus);
    const config = parseOrThrow(corpusConfigSchema, request.body ?? {}, 'the corpus settings');
    const { corpus, created } = await store().putCorpus(actorOf(request), id, name, config);
    return reply.code(created ? 201 : 200).send(corpus);
  });

  app.get<{ Params: { id: string; corpus: string } }>('/v1/tenants/:id/corpora/:corpus', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'corpus.read', id);
    return store().getCorpus(id, corpusName(request.params.corpus));
  });

  app.post<{ Params: { id: string; corpus: string } }>(
    '/v1/tenants/:id/corpora/:corpus/documents',
    { bodyLimit: INGEST_BODY_LIMIT_BYTES },
    async (request, reply) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'corpus.write', id);
      const name = corpusName(request.params.corpus);
      const doc = parseOrThrow(documentSchema, request.body, 'the document');
      const result = await store().ingest(actorOf(request), id, name, doc);
      return reply.code(result.action === 'create' ? 201 : 200).send(result);
    },
  );

  app.post<{ Params: { id: string; corpus: string } }>(
    '/v1/tenants/:id/corpora/:corpus/batches',
    { bodyLimit: BATCH_BODY_LIMIT_BYTES },
    async (request, reply) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'corpus.write', id);
      const name = corpusName(request.params.corpus);
      const body = parseOrThrow(batchSchema, request.body, 'the batch');
      const job = await deps.retrieval.batches.start(actorOf(request), id, name, body.documents);
      return reply.code(202).header('Location', `/v1/jobs/${job.id}`).send(job);
    },
  );

  app.get<{ Params: { id: string; corpus: string; docId: string } }>(
    '/v1/tenants/:id/corpora/:corpus/documents/:docId/content',
    async (request, reply) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'corpus.read', id);
      const { body, contentType } = await store().documentContent(
        id,
        corpusName(request.params.corpus),
        documentId(request.params.docId),
      );
      return reply
        .header('content-type', contentType)
        .header('x-content-type-options', 'nosniff')
        .header('content-disposition', 'attachment')
        .send(body);
    },
  );

  app.get<{ Params: { id: string; corpus: string; docId: string } }>(
    '/v1/tenants/:id/corpora/:corpus/documents/:docId',
    async (request) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'corpus.read', id);
      return store().getDocument(id, corpusName(request.params.corpus), documentId(request.params.docId));
    },
  );

  app.delete<{ Params: { id: string; corpus: string; docId: string } }>(
    '/v1/tenants/:id/corpora/:corpus/documents/:docId',
    async (request, reply) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'corpus.write', id);
      await store().deleteDocument(
        actorOf(request),
        id,
        corpusName(request.params.corpus),
        documentId(request.params.docId),
      );
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/retrieve', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'corpus.read', id);
    const input = parseOrThrow(retrieveSchema, request.body, 'the query');
    return store().retrieve(id, input, actorOf(request));
  });

  app.get<{ Params: { id: string; corpus: string }; Querystring: { limit?: string; after?: string } }>(
    '/v1/tenants/:id/corpora/:corpus/quarantine',
    async (request) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'corpus.read', id);
      const q = parseOrThrow(quarantineQuerySchema, request.query ?? {}, 'the query string', ['query']);
      const items = await store().quarantine(id, corpusName(request.params.corpus), q.limit, q.after);
      return { items, next: items.length === q.limit ? items[items.length - 1]!.id : null };
    },
  );

  app.post<{ Params: { id: string; corpus: string; docId: string } }>(
    '/v1/tenants/:id/corpora/:corpus/quarantine/:docId/release',
    async (request, reply) => {
      const id = guard.pathTenant(request, request.params.id);
      const principal = await guard.authorize(request, 'corpus.write', id);
      const body = parseOrThrow(releaseBodySchema, request.body ?? {}, 'the release request');
      const approval = await requestRelease(
        {
          db: deps.store.db,
          gate: deps.governance.approvals,
          registry: deps.tenants.registry,
          store: store(),
        },
        { ...actorOf(request), role: principal.role },
        id,
        corpusName(request.params.corpus),
        documentId(request.params.docId),
        body.reason,
      );
      deps.governance.onApprovalChange?.();
      return reply.code(202).send(approval);
    },
  );
}
