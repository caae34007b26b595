/**
 * OpenAPI operations of retrieval: a tenant's corpora, their documents, and search.
 */
import { quarantineQuerySchema } from '../routes/retrieval-routes.js';
import type { Operations } from './operation.js';

/** Corpora, documents and retrieval. */
export const retrievalPaths: Operations = {
  '/v1/tenants/{id}/corpora': {
    get: { summary: "The tenant's corpora and their settings", tags: ['retrieval'], ok: 200 },
  },
  '/v1/tenants/{id}/corpora/{corpus}': {
    put: {
      summary:
        'Create (201) or configure (200) a corpus: chunk size and overlap in tokens, text-search language, vectors',
      tags: ['retrieval'],
      body: 'CorpusConfig',
      ok: 201,
    },
    get: { summary: "A corpus's settings", tags: ['retrieval'], ok: 200 },
  },
  '/v1/tenants/{id}/corpora/{corpus}/documents': {
    post: {
      summary:
        "Ingest one document into the tenant's own place (201 create; 200 update or unchanged, by id and content " +
        'hash): text, content, or chunks with their vectors',
      tags: ['retrieval'],
      body: 'CorpusDocument',
      ok: 201,
    },
  },
  '/v1/tenants/{id}/corpora/{corpus}/batches': {
    post: {
      summary:
        'Ingest up to 1,000 documents as a job (202, Location: the job); every document is checked first, one bad one refuses the batch',
      tags: ['retrieval'],
      body: 'CorpusBatch',
      ok: 202,
    },
  },
  '/v1/tenants/{id}/corpora/{corpus}/documents/{docId}/content': {
    get: {
      summary: "A document's bytes as they were sent, from the tenant's object place",
      tags: ['retrieval'],
      ok: 200,
      raw: true,
    },
  },
  '/v1/tenants/{id}/corpora/{corpus}/quarantine': {
    get: {
      summary: "The corpus's quarantined documents with their trust score, reasons and any release",
      tags: ['retrieval'],
      query: quarantineQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/corpora/{corpus}/quarantine/{docId}/release': {
    post: {
      summary: 'Ask to release a quarantined document: a retrievalRelease approval (202, pending)',
      tags: ['retrieval'],
      body: 'ReleaseRequest',
      ok: 202,
    },
  },
  '/v1/tenants/{id}/corpora/{corpus}/documents/{docId}': {
    get: {
      summary: "A document's record: hash, chunks, source, status, trust score and reasons, metadata (not its text)",
      tags: ['retrieval'],
      ok: 200,
    },
    delete: { summary: 'Remove a document and its chunks', tags: ['retrieval'], ok: 204 },
  },
  '/v1/tenants/{id}/retrieve': {
    post: {
      summary:
        'The best chunks of a corpus for a query (full-text rank, fused with vector similarity where the corpus ' +
        'has vectors), filtered by document metadata, through the trust and poisoning guard (dropped chunks reported)',
      tags: ['retrieval'],
      body: 'RetrieveRequest',
      ok: 200,
    },
  },
};
