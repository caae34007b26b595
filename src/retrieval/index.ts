/**
 * Retrieval: each tenant's corpora, stored and searched in the tenant's own place.
 */
export { RetrievalStore, purgeTenantCorpora } from './retrieval-store.js';
export type { CorpusInfo, DocumentInfo, IngestResult, RetrievedChunk } from './retrieval-store.js';
export { corpusConfigSchema, documentSchema, retrieveSchema, CORPUS_NAME, DOCUMENT_ID } from './corpus-schema.js';
