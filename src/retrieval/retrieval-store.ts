/**
 * Corpora: settings in the control-plane store, documents, chunks and the full-text index in
 * the tenant's own place (its schema or database), reached only through the warehouse's
 * tenant session, as the tenant's own role. So a corpus moves, archives, restores and is
 * purged with the tenant, and no query of one tenant can name another's tables. Ingest is one
 * transaction per document (nothing half-ingested) and idempotent by document id and content
 * hash; search is PostgreSQL full-text search (any of the query's words, stemmed in the
 * corpus's language, ranked by `ts_rank_cd`), the same on PGlite and PostgreSQL, fused with
 * vector similarity where the corpus has vectors (`vectors.ts`, `hybrid-ranking.ts`).
 */
import { createHash } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { TenancyError } from '../errors.js';
import { json } from '../infra/sql/index.js';
import { isolationContext, type TenantObjects, type TenantSession, type Warehouse } from '../isolation/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { jsonEqual, type Tenant, type TenantRegistry } from '../tenants/index.js';
import { corpusConfigSchema, type CorpusConfig, type DocumentInput, type RetrieveInput } from './corpus-schema.js';
import { documentVectors, queryVector, readDocument, sameDocument, type Embedder } from './chunk-embeddings.js';
import { chunkText } from './document-text.js';
import { fuseRankings, type MatchKind } from './hybrid-ranking.js';
import { PolicyCache, type ActivePolicy } from './policy-cache.js';
import type { RetrievalCache } from './retrieval-cache.js';
import type { RetrievalLineage } from './retrieval-lineage.js';
import { spotlight, spotlightingNote, type Spotlighting } from './spotlight.js';
import {
  checkSignature,
  forbiddenMatches,
  HARD_REASONS,
  instructionMarkers,
  judge,
  questionKeys,
  screenPool,
  signedMessage,
  sourceState,
  type Candidate,
  type DocumentSignals,
  type GuardReason,
  type SignatureState,
} from './trust-guard.js';
import { arrayLiteral, embeddingSpace, nearestChunks, VECTOR_DDL, type VectorMethod } from './vectors.js';

type ReleaseRow = Selectable<Schema['corpus_releases']>;

/** The tables a tenant's corpora live in, in its own place (created on first use, as the tenant's role). */
const TENANT_DDL = `
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

const iso = (v: unknown) => new Date(v as string).toISOString();

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
function storedSignals(row: Record<string, unknown>, policy: ActivePolicy, markers: string[]): DocumentSignals {
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

/** Tenants' corpora. */
export class RetrievalStore {
  readonly #prepared = new Set<string>();
  readonly #preparing = new Map<string, Promise<void>>();
  readonly #listeners: Array<(tenantId: string, ok: boolean, latencyMs: number) => void> = [];
  readonly #policies: PolicyCache;
  readonly #releases = new Map<string, { at: number; keys: Map<string, ReleaseRow> }>();

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly registry: TenantRegistry,
    private readonly warehouse: () => Warehouse,
    private readonly options: {
      cache?: RetrievalCache;
      lineage?: RetrievalLineage;
      /** The tenants' object places: each document's bytes as sent are kept there. */
      objects?: () => TenantObjects;
      /** Embeds chunks and queries through the tenant's model router (corpora with an embedding model). */
      embedder?: Embedder;
    } = {},
  ) {
    this.#policies = new PolicyCache(registry);
    registry.onChange((id) => {
      for (const key of this.#prepared) if (key.startsWith(`${id}\u0000`)) this.#prepared.delete(key);
      for (const key of this.#releases.keys()) if (key.startsWith(`${id}\u0000`)) this.#releases.delete(key);
    });
  }

  /** Call `listener` after every retrieval (its outcome and latency: the retrieval SLI). */
  onRetrieve(listener: (tenantId: string, ok: boolean, latencyMs: number) => void): void {
    this.#listeners.push(listener);
  }

  /** The tenant's retrieval policy as the guard runs it now. */
  policy(tenantId: string): Promise<ActivePolicy> {
    return this.#policies.get(tenantId);
  }

  /** Run `fn` in the tenant's own place as its role, its corpus tables made if missing; the tenant must be active. */
  async #inTenant<T>(tenantId: string, fn: (s: TenantSession) => Promise<T>): Promise<T> {
    const tenant = await this.#activeTenant(tenantId);
    const placed = tenant.status.placement?.profile;
    const ctx = isolationContext(tenantId, tenant.spec, placed);
    const key = `${tenantId}\u0000${ctx.profile}`;
    if (!this.#prepared.has(key)) await this.#prepare(ctx, key);
    return this.warehouse().withTenant(ctx, fn);
  }

  /**
   * Make the tenant's corpus tables (once per process and place). Concurrent first requests
   * share one attempt; two replicas racing on `create table if not exists` (PostgreSQL's
   * catalogue refuses the loser with a unique violation) retry once.
   */
  #prepare(ctx: ReturnType<typeof isolationContext>, key: string): Promise<void> {
    let p = this.#preparing.get(key);
    if (!p) {
      const attempt = () => this.warehouse().withTenant(ctx, (s) => s.exec(`${TENANT_DDL}\n${VECTOR_DDL}`));
      p = attempt()
        .catch((error: { code?: string }) => {
          if (error?.code === '23505' || error?.code === '42P07' || error?.code === '42710') return attempt();
          throw error;
        })
        .then(() => {
          this.#prepared.add(key);
        })
        .finally(() => this.#preparing.delete(key));
      this.#preparing.set(key, p);
    }
    return p;
  }

  /** The tenant, or 409 naming its phase when it is not active. */
  async #activeTenant(tenantId: string): Promise<Tenant> {
    const tenant = await this.registry.get(tenantId);
    const phase = tenant.status.phase;
    if (phase !== 'active') {
      const code =
        phase === 'provisioning'
          ? 'tenant_provisioning'
          : phase === 'suspended'
            ? 'tenant_suspended'
            : phase === 'archived' || phase === 'archiving'
              ? 'tenant_archived'
              : 'tenant_deleted';
      throw new TenancyError(code, `tenant ${tenantId} is ${phase}; its corpora are not available`, { status: 409 });
    }
    return tenant;
  }

  async #corpus(tenantId: string, name: string): Promise<CorpusInfo> {
    const row = await this.db
      .selectFrom('corpora')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) throw new TenancyError('corpus_not_found', `corpus ${name} not found`);
    return {
      name: row.name,
      config: corpusConfigSchema.parse(row.config),
      createdAt: iso(row.created_at),
      updatedAt: iso(row.updated_at),
    };
  }

  /** The documents of a corpus released from quarantine, by `id:sha` (cached a second, dropped on decisions). */
  async #released(tenantId: string, corpus: string): Promise<Map<string, ReleaseRow>> {
    const key = `${tenantId}\u0000${corpus}`;
    const hit = this.#releases.get(key);
    if (hit && Date.now() - hit.at < 1_000) return hit.keys;
    const rows = await this.db
      .selectFrom('corpus_releases')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('corpus', '=', corpus)
      .execute();
    const keys = new Map(rows.map((r) => [`${r.document_id}:${r.content_sha256}`, r]));
    this.#releases.set(key, { at: Date.now(), keys });
    return keys;
  }

  /** Forget cached releases and answers of a tenant's corpus (after a release decision). */
  async invalidate(tenantId: string, corpus: string): Promise<void> {
    this.#releases.delete(`${tenantId}\u0000${corpus}`);
    await this.options.cache?.invalidate(tenantId, corpus);
  }

  /** Create or configure a corpus; 201-worthy `created` when it is new. */
  async putCorpus(
    actor: Actor,
    tenantId: string,
    name: string,
    config: CorpusConfig,
  ): Promise<{ corpus: CorpusInfo; created: boolean }> {
    await this.registry.get(tenantId);
    const created = await this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('corpora')
        .select('config')
        .where('tenant_id', '=', tenantId)
        .where('name', '=', name)
        .forUpdate()
        .executeTakeFirst();
      if (existing && jsonEqual(existing.config, config)) return false;
      const now = new Date().toISOString();
      if (existing)
        await trx
          .updateTable('corpora')
          .set({ config: json(config), updated_at: now })
          .where('tenant_id', '=', tenantId)
          .where('name', '=', name)
          .execute();
      else
        await trx
          .insertInto('corpora')
          .values({ tenant_id: tenantId, name, config: json(config), created_at: now, updated_at: now })
          .execute();
      await this.audit.recordChange(trx, {
        actor,
        action: 'corpus.write',
        target: `tenant/${tenantId}/corpus/${name}`,
        tenantId,
        outcome: 'success',
        details: { name, config, created: !existing },
        event: { type: existing ? 'corpus.updated' : 'corpus.created', payload: { name } },
      });
      return !existing;
    });
    await this.options.cache?.invalidate(tenantId, name);
    return { corpus: await this.#corpus(tenantId, name), created };
  }

  /** A corpus's settings; 404 when unknown. */
  getCorpus(tenantId: string, name: string): Promise<CorpusInfo> {
    return this.#corpus(tenantId, name);
  }

  /** The tenant's corpora. */
  async listCorpora(tenantId: string): Promise<CorpusInfo[]> {
    const rows = await this.db
      .selectFrom('corpora')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('name')
      .execute();
    return rows.map((r) => ({
      name: r.name,
      config: corpusConfigSchema.parse(r.config),
      createdAt: iso(r.created_at),
      updatedAt: iso(r.updated_at),
    }));
  }

  /**
   * Ingest one document: all its chunks or none; the same id and content again changes
   * nothing. The guard judges it under the tenant's policy: below the policy's trust, or with
   * a hard finding, it is quarantined (stored, not retrievable) when the guard enforces.
   * A document that completes a cluster of documents carrying the same question marks the
   * whole cluster, earlier members included.
   */
  async ingest(actor: Actor, tenantId: string, corpusName: string, doc: DocumentInput): Promise<IngestResult> {
    const corpus = await this.#corpus(tenantId, corpusName);
    const policy = await this.#policies.get(tenantId);
    const read = readDocument(doc);
    const { text, sha256: sha, bytes } = read;
    await this.#activeTenant(tenantId);
    const chunks = read.chunks ?? chunkText(text, corpus.config.chunkSize, corpus.config.chunkOverlap);
    // Before anything is stored: a refusal of the tenant's model router leaves nothing behind.
    const vectors = await documentVectors(
      this.options.embedder,
      (fn) => this.#inTenant(tenantId, fn),
      { tenantId, corpus: corpusName, config: corpus.config, doc, chunks, sha256: sha },
      actor.correlationId ?? uuidv7(),
    );
    // The bytes as sent, in the tenant's object place (counted against its storage; refused when over).
    const rawKey = rawDocumentKey(corpusName, doc.id);
    await this.options
      .objects?.()
      .putOwn(actor, tenantId, rawKey, bytes, doc.contentType ?? 'text/plain; charset=utf-8');
    const chunkMarkers = chunks.map((c) => instructionMarkers(c));
    const markers = [...new Set(chunkMarkers.flat())];
    const forbidden = forbiddenMatches(policy.forbidden, text).length > 0;
    const signature = checkSignature(doc.signature, signedMessage(doc.source.uri, sha), policy.keys);
    const qkeys = questionKeys(text);
    const enforce = policy.spec.mode === 'enforce';
    const outcome = await this.#inTenant(tenantId, async (s) => {
      const [existing] = await s.query<Record<string, unknown>>(
        'select * from tenancy_corpus_documents where corpus = $1 and id = $2 for update',
        [corpusName, doc.id],
      );
      if (existing && sameDocument(existing, doc, sha, vectors))
        return {
          action: 'unchanged' as const,
          status: existing.status as 'indexed' | 'quarantined',
          trustScore: Number(existing.trust_score),
          reasons: existing.reasons as GuardReason[],
          flagged: [] as string[],
        };
      if (existing)
        await s.query('delete from tenancy_corpus_documents where corpus = $1 and id = $2', [corpusName, doc.id]);
      // Documents already carrying one of this document's questions: a cluster once there are enough.
      // Ingests of the same question wait for each other here, so concurrent ones cannot each
      // miss the others (an attacker sending five texts at once).
      if (qkeys.length > 0)
        await s.query(
          `select pg_advisory_xact_lock(hashtextextended(current_schema() || '/' || $1 || '/' || k, 0))
             from unnest($2::text[]) as u(k) order by k`,
          [corpusName, qkeys],
        );
      const peers =
        qkeys.length === 0
          ? []
          : await s.query<{ qkey: string; ids: string[] }>(
              `select qkey, array_agg(distinct document_id) as ids from tenancy_corpus_questions
                where corpus = $1 and qkey = any($2::text[]) and document_id <> $3 group by qkey`,
              [corpusName, qkeys, doc.id],
            );
      const members = new Set<string>();
      for (const p of peers)
        if (p.ids.length + 1 >= policy.spec.duplicateClusterSize) for (const id of p.ids) members.add(id);
      const verdict = judge(
        {
          source: sourceState(doc.source.uri, policy.spec),
          signature: signature.state,
          markers,
          cluster: members.size > 0,
        },
        policy.spec,
        { forbidden },
      );
      const status = enforce && verdict.refused ? ('quarantined' as const) : ('indexed' as const);
      await s.query(
        `insert into tenancy_corpus_documents (corpus, id, content_sha256, source_uri, signature, metadata, chunks,
           status, trust_score, reasons, source_state, signature_state, signature_key, keys_fp, markers, forbidden,
           cluster, embedding_space, embeddings_sha256)
         values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::text[], $11, $12, $13, $14, $15::text[], $16, $17,
           $18, $19)`,
        [
          corpusName,
          doc.id,
          sha,
          doc.source.uri,
          doc.signature ?? null,
          JSON.stringify(doc.metadata ?? {}),
          chunks.length,
          status,
          verdict.trustScore,
          verdict.reasons,
          sourceState(doc.source.uri, policy.spec),
          signature.state,
          signature.keyId ?? null,
          policy.keysFingerprint,
          markers,
          forbidden,
          members.size > 0,
          vectors.vectors ? vectors.space : null,
          vectors.vectors ? vectors.sha256 : null,
        ],
      );
      await s.query(
        `insert into tenancy_corpus_chunks (corpus, document_id, seq, text, tsv, markers, embedding)
         select $1, $2, n::int, t, to_tsvector($3::regconfig, t), coalesce(string_to_array(nullif(m, ''), ','), '{}'),
                nullif(e, '')::real[]
           from unnest($4::text[], $5::text[], $6::text[]) with ordinality as u(t, m, e, n)`,
        [
          corpusName,
          doc.id,
          corpus.config.language,
          chunks,
          chunkMarkers.map((m) => m.join(',')),
          chunks.map((_, i) => (vectors.vectors ? arrayLiteral(vectors.vectors[i]!) : '')),
        ],
      );
      if (qkeys.length > 0)
        await s.query(
          `insert into tenancy_corpus_questions (corpus, qkey, document_id)
           select $1, k, $2 from unnest($3::text[]) as u(k)`,
          [corpusName, doc.id, qkeys],
        );
      const flagged = await this.#flagCluster(s, corpusName, [...members], policy);
      return {
        action: existing ? ('update' as const) : ('create' as const),
        status,
        trustScore: verdict.trustScore,
        reasons: verdict.reasons,
        flagged,
      };
    });
    if (outcome.action !== 'unchanged') {
      const details = {
        corpus: corpusName,
        document: doc.id,
        action: outcome.action,
        chunks: chunks.length,
        contentSha256: sha,
        status: outcome.status,
        trustScore: outcome.trustScore,
        reasons: outcome.reasons,
        policyVersion: policy.version,
        ...(outcome.flagged.length > 0 ? { quarantinedPeers: outcome.flagged } : {}),
      };
      const target = `tenant/${tenantId}/corpus/${corpusName}/document/${doc.id}`;
      if (outcome.status === 'quarantined' || outcome.flagged.length > 0)
        await this.db.transaction().execute((trx) =>
          this.audit.recordChange(trx, {
            actor,
            action: 'corpus.ingest',
            target,
            tenantId,
            outcome: 'success',
            details,
            event: {
              type: 'corpus.document_quarantined',
              tenantId,
              payload: {
                corpus: corpusName,
                documents: [...(outcome.status === 'quarantined' ? [doc.id] : []), ...outcome.flagged],
                reasons: outcome.reasons,
              },
            },
          }),
        );
      else await this.audit.record(actor, { action: 'corpus.ingest', target, tenantId, outcome: 'success', details });
      await this.options.cache?.invalidate(tenantId, corpusName);
    }
    return {
      id: doc.id,
      corpus: corpusName,
      status: outcome.status,
      action: outcome.action,
      chunks: chunks.length,
      contentSha256: sha,
      trustScore: outcome.trustScore,
      reasons: outcome.reasons,
      signature: signature.state,
      policyVersion: policy.version,
    };
  }

  /** Mark earlier members of a cluster; quarantine those the guard now refuses (enforcing). Ids quarantined. */
  async #flagCluster(s: TenantSession, corpus: string, ids: string[], policy: ActivePolicy): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await s.query<Record<string, unknown>>(
      'select * from tenancy_corpus_documents where corpus = $1 and id = any($2::text[]) and not cluster',
      [corpus, ids],
    );
    const out: string[] = [];
    for (const row of rows) {
      const signals = { ...storedSignals(row, policy, row.markers as string[]), cluster: true };
      const verdict = judge(signals, policy.spec, { forbidden: row.forbidden === true });
      const quarantine = policy.spec.mode === 'enforce' && verdict.refused && row.status === 'indexed';
      await s.query(
        `update tenancy_corpus_documents set cluster = true, trust_score = $3, reasons = $4::text[],
                status = case when $5 then 'quarantined' else status end
          where corpus = $1 and id = $2`,
        [corpus, row.id, verdict.trustScore, verdict.reasons, quarantine],
      );
      if (quarantine) out.push(row.id as string);
    }
    return out;
  }

  #documentInfo(corpus: string, row: Record<string, unknown>, release?: ReleaseRow): DocumentInfo {
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

  /** One document's record; 404 when unknown. */
  async getDocument(tenantId: string, corpusName: string, id: string): Promise<DocumentInfo> {
    await this.#corpus(tenantId, corpusName);
    const [row] = await this.#inTenant(tenantId, (s) =>
      s.query<Record<string, unknown>>('select * from tenancy_corpus_documents where corpus = $1 and id = $2', [
        corpusName,
        id,
      ]),
    );
    if (!row) throw new TenancyError('document_not_found', `document ${id} not found in corpus ${corpusName}`);
    const released = await this.#released(tenantId, corpusName);
    return this.#documentInfo(corpusName, row, released.get(`${id}:${row.content_sha256 as string}`));
  }

  /** A document's bytes as they were sent, with their content type; 404 when unknown. */
  async documentContent(
    tenantId: string,
    corpusName: string,
    id: string,
  ): Promise<{ body: Buffer; contentType: string }> {
    await this.getDocument(tenantId, corpusName, id);
    const stored = await this.options.objects?.().getOwn(tenantId, rawDocumentKey(corpusName, id));
    if (!stored)
      throw new TenancyError('document_not_found', `the content of document ${id} is not kept in corpus ${corpusName}`);
    return { body: stored.body, contentType: stored.contentType ?? 'application/octet-stream' };
  }

  /** The corpus's quarantined documents, with their reasons and whether a release holds. */
  async quarantine(tenantId: string, corpusName: string, limit = 100, after?: string): Promise<DocumentInfo[]> {
    await this.#corpus(tenantId, corpusName);
    const rows = await this.#inTenant(tenantId, (s) =>
      s.query<Record<string, unknown>>(
        `select * from tenancy_corpus_documents where corpus = $1 and status = 'quarantined' and id > $2
          order by id limit $3`,
        [corpusName, after ?? '', limit],
      ),
    );
    const released = await this.#released(tenantId, corpusName);
    return rows.map((r) =>
      this.#documentInfo(corpusName, r, released.get(`${r.id as string}:${r.content_sha256 as string}`)),
    );
  }

  /** Remove a document and its chunks; 404 when unknown. */
  async deleteDocument(actor: Actor, tenantId: string, corpusName: string, id: string): Promise<void> {
    await this.#corpus(tenantId, corpusName);
    const gone = await this.#inTenant(tenantId, (s) =>
      s.query('delete from tenancy_corpus_documents where corpus = $1 and id = $2 returning id', [corpusName, id]),
    );
    if (gone.length === 0)
      throw new TenancyError('document_not_found', `document ${id} not found in corpus ${corpusName}`);
    await this.options.objects?.().deleteOwn(actor, tenantId, rawDocumentKey(corpusName, id));
    await this.db
      .deleteFrom('corpus_releases')
      .where('tenant_id', '=', tenantId)
      .where('corpus', '=', corpusName)
      .where('document_id', '=', id)
      .execute();
    this.#releases.delete(`${tenantId}\u0000${corpusName}`);
    await this.audit.record(actor, {
      action: 'corpus.delete_document',
      target: `tenant/${tenantId}/corpus/${corpusName}/document/${id}`,
      tenantId,
      outcome: 'success',
      details: { corpus: corpusName, document: id },
    });
    await this.options.cache?.invalidate(tenantId, corpusName);
  }

  /**
   * The `k` best chunks for `query` (full-text rank, fused with vector similarity where the
   * corpus has vectors), filtered by document metadata, through the guard: it judges a pool
   * of the best candidates (four times `k`, at least 20) under the tenant's policy now, drops
   * those it refuses (reported in `dropped`), and keeps the `k` best of the rest. Quarantined
   * documents are never candidates unless released.
   */
  async retrieve(tenantId: string, input: RetrieveInput, actor?: Actor): Promise<RetrieveResult> {
    const started = performance.now();
    try {
      const result = await this.#retrieve(tenantId, input, actor);
      for (const l of this.#listeners) l(tenantId, true, performance.now() - started);
      return result;
    } catch (error) {
      // A refusal of the caller's input is not the service failing; anything else is.
      const failed = !(error instanceof TenancyError) || error.status >= 500;
      if (failed) for (const l of this.#listeners) l(tenantId, false, performance.now() - started);
      throw error;
    }
  }

  async #retrieve(tenantId: string, input: RetrieveInput, actor?: Actor): Promise<RetrieveResult> {
    const corpus = await this.#corpus(tenantId, input.corpus);
    const policy = await this.#policies.get(tenantId);
    const released = await this.#released(tenantId, input.corpus);
    const cacheKey = this.options.cache
      ? [
          input.corpus,
          policy.version,
          released.size,
          input.k,
          input.query,
          JSON.stringify(input.filter ?? {}),
          input.vector ? arrayLiteral(input.vector) : '',
        ].join('\u0000')
      : '';
    const hit = this.options.cache ? await this.options.cache.get(tenantId, input.corpus, cacheKey) : undefined;
    let result: Omit<RetrieveResult, 'queryId' | 'cached'>;
    if (hit) result = hit as Omit<RetrieveResult, 'queryId' | 'cached'>;
    else {
      result = await this.#search(tenantId, corpus, input, policy, released, actor?.correlationId ?? uuidv7());
      if (this.options.cache) await this.options.cache.set(tenantId, input.corpus, cacheKey, result);
    }
    const queryId = uuidv7();
    this.options.lineage?.add(tenantId, {
      queryId,
      corpus: input.corpus,
      domain: input.domain ?? 'retrieval',
      usecase: input.usecase ?? input.corpus,
      policyVersion: policy.version,
      agentId: actor?.id,
      items: result.items,
    });
    return { queryId, ...result, cached: hit !== undefined };
  }

  async #search(
    tenantId: string,
    corpus: CorpusInfo,
    input: RetrieveInput,
    policy: ActivePolicy,
    released: Map<string, ReleaseRow>,
    requestId: string,
  ): Promise<Omit<RetrieveResult, 'queryId' | 'cached'>> {
    const mode = policy.spec.mode;
    const pool = mode === 'off' ? input.k : Math.min(Math.max(input.k * 4, 20), 400);
    const inTenant = <T>(fn: (s: TenantSession) => Promise<T>) => this.#inTenant(tenantId, fn);
    const vector = await queryVector(
      this.options.embedder,
      inTenant,
      { tenantId, corpus: input.corpus, config: corpus.config, query: input.query, vector: input.vector },
      requestId,
    );
    let ranking: RetrieveResult['ranking'] = { method: 'lexical' };
    const rows = await inTenant(async (s): Promise<Array<Record<string, unknown> & { match: MatchKind[] }>> => {
      const lexical = await s.query<Record<string, unknown>>(
        `select c.document_id, c.seq, c.text, c.markers as chunk_markers, ts_rank_cd(c.tsv, q.q)::float8 as score,
                d.source_uri, d.content_sha256, d.signature, d.signature_state, d.keys_fp, d.cluster, d.forbidden,
                d.ingested_at, d.status
           from tenancy_corpus_chunks c
           join tenancy_corpus_documents d on d.corpus = c.corpus and d.id = c.document_id,
                (select coalesce(string_agg(quote_literal(l), ' | '), '')::tsquery
                   from unnest(tsvector_to_array(to_tsvector($2::regconfig, $3))) as l) as q(q)
          where c.corpus = $1 and c.tsv @@ q.q and d.metadata @> $4::jsonb
            and (d.status = 'indexed' or d.id || ':' || d.content_sha256 = any($6::text[]))
          order by score desc, c.document_id, c.seq
          limit $5`,
        [
          input.corpus,
          corpus.config.language,
          input.query,
          JSON.stringify(input.filter ?? {}),
          pool,
          [...released.keys()],
        ],
      );
      if (!vector) return lexical.map((r) => ({ ...r, match: ['lexical'] }));
      const near = await nearestChunks(s, {
        corpus: input.corpus,
        space: embeddingSpace(corpus.config)!,
        vector,
        filter: JSON.stringify(input.filter ?? {}),
        released: [...released.keys()],
        limit: pool,
      });
      ranking = { method: 'hybrid', vectors: near.method };
      return fuseRankings(lexical, near.rows, pool);
    });
    const candidates: Candidate[] = rows.map((r) => ({
      documentId: r.document_id as string,
      text: r.text as string,
      signals: storedSignals(r, policy, (r.chunk_markers as string[] | null) ?? []),
      released: released.has(`${r.document_id as string}:${r.content_sha256 as string}`),
      forbidden: r.forbidden === true || forbiddenMatches(policy.forbidden, r.text as string).length > 0,
    }));
    const verdicts = screenPool(candidates, input.query, policy.spec);
    const items: RetrievedChunk[] = [];
    const dropped: DroppedChunk[] = [];
    rows.forEach((r, i) => {
      const v = verdicts[i]!;
      const chunkId = `${r.document_id as string}#${r.seq as number}`;
      if (mode === 'enforce' && v.refused) {
        dropped.push({
          chunkId,
          documentId: r.document_id as string,
          reason: v.reasons.find((x) => HARD_REASONS.has(x)) ?? v.reasons[0] ?? 'below_min_trust',
          reasons: v.reasons,
          trustScore: v.trustScore,
        });
        return;
      }
      if (items.length >= input.k) return;
      items.push({
        chunkId,
        documentId: r.document_id as string,
        text: spotlight(r.text as string, policy.spec.spotlighting),
        score: Number(r.score),
        match: r.match,
        trustScore: v.trustScore,
        ...(mode !== 'off' && v.reasons.length > 0 ? { reasons: v.reasons } : {}),
        source: { uri: r.source_uri as string },
        provenance: {
          contentSha256: r.content_sha256 as string,
          signature: candidates[i]!.signals.signature,
          ingestedAt: iso(r.ingested_at),
          ...(candidates[i]!.released ? { released: true } : {}),
        },
      });
    });
    const note = spotlightingNote(policy.spec.spotlighting);
    return {
      corpus: input.corpus,
      items,
      dropped,
      policyVersion: policy.version,
      guard: mode,
      ranking,
      ...(note ? { spotlighting: note } : {}),
    };
  }

  /** Check that a quarantined document can be released (it exists, is quarantined); its content hash. */
  async releasable(tenantId: string, corpusName: string, id: string): Promise<DocumentInfo> {
    const doc = await this.getDocument(tenantId, corpusName, id);
    if (doc.status !== 'quarantined')
      throw new TenancyError('document_not_quarantined', `document ${id} is not quarantined`, { status: 409 });
    if (doc.released)
      throw new TenancyError('document_not_quarantined', `document ${id} is already released`, { status: 409 });
    return doc;
  }
}
