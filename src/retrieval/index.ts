/**
 * Retrieval: each tenant's corpora, stored and searched in the tenant's own place.
 */
export { RetrievalStore, purgeTenantCorpora, rawDocumentKey } from './retrieval-store.js';
export type {
  CorpusInfo,
  DocumentInfo,
  DroppedChunk,
  IngestResult,
  RetrievedChunk,
  RetrieveResult,
} from './retrieval-store.js';
export { requestRelease, registerRetrievalReleases, RELEASE_KIND } from './releases.js';
export { MemoryRetrievalCache, RedisRetrievalCache } from './retrieval-cache.js';
export type { RetrievalCache } from './retrieval-cache.js';
export { RetrievalLineage } from './retrieval-lineage.js';
export { retrievalPolicySpecSchema, DEFAULT_RETRIEVAL_POLICY } from './policy-schema.js';
export type { RetrievalPolicySpec } from './policy-schema.js';
export type { Embedder, EmbedRequest } from './chunk-embeddings.js';
export { corpusConfigSchema, documentSchema, retrieveSchema, CORPUS_NAME, DOCUMENT_ID } from './corpus-schema.js';
export { BatchIngest, batchSchema, BATCH_JOB, MAX_BATCH_DOCUMENTS } from './batch-ingest.js';
