/**
 * A tenant's corpus tables in its own place (made on first use, as its role), the shapes the
 * retrieval API answers with, and the rows turned into them.
 */
import { createHash } from 'node:crypto';
import type { Selectable, Transaction } from 'kysely';
import type { Schema } from '../schema.js';
import type { CorpusConfig } from './corpus-schema.js';
import type { MatchKind } from './hybrid-ranking.js';
import type { ActivePolicy } from './policy-cache.js';
import type { Spotlighting } from './spotlight.js';
import {
  checkSignature,
  signedMessage,
  sourceState,
  type DocumentSignals,
  type GuardReason,
  type SignatureState,
} from './trust-guard.js';
import type { VectorMethod } from './vectors.js';

export type ReleaseRow = Selectable<Schema['corpus_releases']>;

/** The tables a tenant's corpora live in, in its own place (created on first use, as the tenant's role). */
export const TENANT_DDL = `
create table if not exists tenancy_corpus_documents (
  corpus text not null,
  id text not null,
  content_sha256 text not null,
  source_uri text not null,
  signature text,
  metadata jsonb not null default '{}',
  status text not null default 'indexed',
  chunks integer not null,
  ingested_at timestamptz not null default now(),
  primary key (corpus, id)
);
alter table tenancy_corpus_documents
  add column if not exists trust_score real not null default 1,
  add column if not exists reasons text[] not null default '{}',
  add column if not exists source_state text not null default 'unknown',
  add column if not exists signature_state text not null default 'absent',
  add column if not exists signature_key text,
  add column if not exists keys_fp text,
  add column if not exists markers text[] not null default '{}',
  add column if not exists forbidden boolean not null default false,
  add column if not exists cluster boolean not null default false;
create table if not exists tenancy_corpus_chunks (
  corpus text not null,
  document_id text not null,
  seq integer not null,
  text text not null,
  tsv tsvector not null,
  primary key (corpus, document_id, seq),
  foreign key (corpus, document_id) references tenancy_corpus_documents (corpus, id) on delete cascade
);
alter table tenancy_corpus_chunks add column if not exists markers text[] not null default '{}';
create index if not exists tenancy_corpus_chunks_tsv on tenancy_corpus_chunks using gin (tsv);
create table if not exists tenancy_corpus_question_locks (
  corpus text not null,
  qkey text not null,
  primary key (corpus, qkey)
);
create table if not exists tenancy_corpus_questions (
  corpus text not null,
  qkey text not null,
  document_id text not null,
  primary key (corpus, qkey, document_id),
  foreign key (corpus, document_id) references tenancy_corpus_documents (corpus, id) on delete cascade
);`;

/** A corpus as the API shows it. */
export interface CorpusInfo {
  name: string;
  config: CorpusConfig;
  createdAt: string;
  updatedAt: string;
}

/** What ingesting one document did. */
export interface IngestResult {
  id: string;
  corpus: string;
  status: 'indexed' | 'quarantined';
  action: 'create' | 'update' | 'unchanged';
  chunks: number;
  contentSha256: string;
  trustScore: number;
  reasons: GuardReason[];
  signature: SignatureState;
  policyVersion: string;
}

/** A stored document as the API shows it (not its text). */
export interface DocumentInfo {
  id: string;
  corpus: string;
  status: 'indexed' | 'quarantined';
  chunks: number;
  contentSha256: string;
  source: { uri: string };
  signature: SignatureState;
  trustScore: number;
  reasons: GuardReason[];
  metadata: Record<string, unknown>;
  ingestedAt: string;
  released?: { by: string; at: string; approvalId: string };
}

/** One retrieved chunk. */
export interface RetrievedChunk {
  chunkId: string;
  documentId: string;
  text: string;
  /** `ts_rank_cd` for a full-text search; the fused score (reciprocal rank fusion) for a hybrid one. */
  score: number;
  /** The ranked lists the chunk came from. */
  match: MatchKind[];
  trustScore: number;
  reasons?: GuardReason[];
  source: { uri: string };
  provenance: { contentSha256: string; signature: SignatureState; ingestedAt: string; released?: boolean };
}

/** A chunk the guard removed from an answer. */
export interface DroppedChunk {
  chunkId: string;
  documentId: string;
  reason: GuardReason;
  reasons: GuardReason[];
  trustScore: number;
}

/** A retrieval's answer. */
export interface RetrieveResult {
  queryId: string;
  corpus: string;
  items: RetrievedChunk[];
  dropped: DroppedChunk[];
  policyVersion: string;
  guard: 'enforce' | 'monitor' | 'off';
  /** Full-text search alone, or fused with vector similarity (ranked by pgvector, or exactly in SQL). */
  ranking: { method: 'lexical' } | { method: 'hybrid'; vectors: VectorMethod };
  spotlighting?: Spotlighting;
  cached: boolean;
}

export const iso = (v: unknown) => new Date(v as string).toISOString();

/** Forget a purged tenant's corpora (their documents went with its place) and their releases. */
export async function purgeTenantCorpora(trx: Transaction<Schema>, tenantId: string): Promise<number> {
  await trx.deleteFrom('corpus_releases').where('tenant_id', '=', tenantId).execute();
  const r = await trx.deleteFrom('corpora').where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Where a document's bytes are kept in the tenant's object place. */
export function rawDocumentKey(corpus: string, id: string): string {
  return `.tenancy-corpora/${corpus}/${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
}

/** The guard's stored view of a document row. */
export function storedSignals(row: Record<string, unknown>, policy: ActivePolicy, markers: string[]): DocumentSignals {
  let signature = row.signature_state as SignatureState;
  if (row.signature && row.keys_fp !== policy.keysFingerprint)
    signature = checkSignature(
      row.signature as string,
      signedMessage(row.source_uri as string, row.content_sha256 as string),
      policy.keys,
    ).state;
  return {
    source: sourceState(row.source_uri as string, policy.spec),
    signature,
    markers,
    cluster: row.cluster === true,
  };
}

/** A document row as the API shows it. */
export function documentInfo(corpus: string, row: Record<string, unknown>, release?: ReleaseRow): DocumentInfo {
  return {
    id: row.id as string,
    corpus,
    status: row.status as 'indexed' | 'quarantined',
    chunks: row.chunks as number,
    contentSha256: row.content_sha256 as string,
    source: { uri: row.source_uri as string },
    signature: row.signature_state as SignatureState,
    trustScore: Number(row.trust_score),
    reasons: row.reasons as GuardReason[],
    metadata: row.metadata as Record<string, unknown>,
    ingestedAt: iso(row.ingested_at),
    ...(release
      ? { released: { by: release.released_by, at: iso(release.released_at), approvalId: release.approval_id } }
      : {}),
  };
}
