/**
 * Retrieval from an app: the best chunks of a corpus of the current request's tenant, through
 * the control plane (`POST /v1/tenants/{id}/retrieve`) with the app's credential. The tenant
 * is always the request's, never an argument, so one tenant's request cannot search another's.
 */
import { TenancyError } from '../errors.js';
import { currentScope } from './request-context.js';
import type { TenancyClient } from './tenancy-client.js';

/** A query against one of the current tenant's corpora. */
export interface RetrieveRequest {
  corpus: string;
  /** At most 4 KiB. */
  query: string;
  /** Chunks at most, 1..100 (the control plane's default: 5). */
  k?: number;
  /** Metadata keys a document must have, with these values. */
  filter?: Record<string, string | number | boolean>;
  /** The query's vector, of the corpus's model and dimensions (unset: the tenant's router embeds the query). */
  vector?: number[];
  /** The domain and use case the answer is for, as lineage records and retrieval policies name them. */
  domain?: string;
  usecase?: string;
}

/** One retrieved chunk with where it came from and how far it is trusted. */
export interface RetrievedItem {
  chunkId: string;
  documentId: string;
  text: string;
  /** Rank for the query (higher is better): full-text rank, or the fused rank of a hybrid search. */
  score: number;
  /** The ranked lists the chunk came from. */
  match: Array<'lexical' | 'vector'>;
  /** From 0 (untrusted) to 1. */
  trustScore: number;
  source: { uri: string };
  provenance: { contentSha256: string; signature: 'valid' | 'invalid' | 'absent'; ingestedAt: string };
}

/** A chunk that matched but was held back by the tenant's retrieval policy. */
export interface DroppedItem {
  chunkId: string;
  documentId: string;
  reason: string;
  trustScore: number;
}

/** How the app should fence retrieved text off from instructions when it builds a prompt. */
export interface Spotlighting {
  mode: string;
  marker?: string;
  instructions: string;
}

/** `POST /v1/tenants/{id}/retrieve`: the items best first, and what was dropped. */
export interface RetrieveResult {
  /** Names this retrieval in lineage records. */
  queryId: string;
  items: RetrievedItem[];
  dropped: DroppedItem[];
  policyVersion: string;
  /** Full-text search alone, or fused with vector similarity (ranked by pgvector, or exactly in SQL). */
  ranking: { method: 'lexical' } | { method: 'hybrid'; vectors: 'pgvector' | 'sql' };
  spotlighting?: Spotlighting;
}

/**
 * Search a corpus of the current request's tenant; rejects with `no_tenant_context` outside
 * a request. Only the fields given are sent; a refusal comes back as the control plane's
 * `TenancyError` (e.g. 404 `corpus_not_found`).
 */
export async function retrieve(client: TenancyClient, request: RetrieveRequest): Promise<RetrieveResult> {
  const scope = currentScope();
  if (!scope)
    throw new TenancyError(
      'no_tenant_context',
      'tenancy.retrieve() was called outside a request admitted by the Tenancy middleware',
    );
  const { corpus, query, k, filter, vector, domain, usecase } = request;
  const body = {
    corpus,
    query,
    ...(k !== undefined ? { k } : {}),
    ...(filter !== undefined ? { filter } : {}),
    ...(vector !== undefined ? { vector } : {}),
    ...(domain !== undefined ? { domain } : {}),
    ...(usecase !== undefined ? { usecase } : {}),
  };
  return client.request<RetrieveResult>('POST', `/v1/tenants/${encodeURIComponent(scope.tenant.id)}/retrieve`, {
    body,
  });
}
