/**
 * Corpora: settings in the control-plane store, documents, chunks and the full-text index in
 * the tenant's own place (its schema or database), reached only through the warehouse's
 * tenant session, as the tenant's own role. So a corpus moves, archives, restores and is
 * purged with the tenant, and no query of one tenant can name another's tables. Ingest is one
 * transaction per document (nothing half-ingested) and idempotent by document id and content
 * hash; search is PostgreSQL full-text search (any of the query's words, stemmed in the
 * corpus's language, ranked by `ts_rank_cd`), the same on PGlite and PostgreSQL.
 */
import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { TenancyError } from '../errors.js';
import { json } from '../infra/sql/index.js';
import { isolationContext, type TenantSession, type Warehouse } from '../isolation/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { jsonEqual, type TenantRegistry } from '../tenants/index.js';
import { corpusConfigSchema, type CorpusConfig, type DocumentInput, type RetrieveInput } from './corpus-schema.js';
import { chunkText, documentText } from './document-text.js';

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
create table if not exists tenancy_corpus_chunks (
  corpus text not null,
  document_id text not null,
  seq integer not null,
  text text not null,
  tsv tsvector not null,
  primary key (corpus, document_id, seq),
  foreign key (corpus, document_id) references tenancy_corpus_documents (corpus, id) on delete cascade
);
create index if not exists tenancy_corpus_chunks_tsv on tenancy_corpus_chunks using gin (tsv);`;

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
  status: 'indexed';
  action: 'create' | 'update' | 'unchanged';
  chunks: number;
  contentSha256: string;
}

/** A stored document as the API shows it (not its text). */
export interface DocumentInfo {
  id: string;
  corpus: string;
  status: string;
  chunks: number;
  contentSha256: string;
  source: { uri: string };
  signature: 'present' | 'absent';
  metadata: Record<string, unknown>;
  ingestedAt: string;
}

/** One retrieved chunk. */
export interface RetrievedChunk {
  chunkId: string;
  documentId: string;
  text: string;
  score: number;
  source: { uri: string };
  provenance: { contentSha256: string; signature: 'present' | 'absent'; ingestedAt: string };
}

const iso = (v: unknown) => new Date(v as string).toISOString();

/** Forget a purged tenant's corpora (their documents went with its place). */
export async function purgeTenantCorpora(trx: Transaction<Schema>, tenantId: string): Promise<number> {
  const r = await trx.deleteFrom('corpora').where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Tenants' corpora. */
export class RetrievalStore {
  readonly #prepared = new Set<string>();

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly registry: TenantRegistry,
    private readonly warehouse: () => Warehouse,
  ) {
    registry.onChange((id) => {
      for (const key of this.#prepared) if (key.startsWith(`${id}\u0000`)) this.#prepared.delete(key);
    });
  }

  /** Run `fn` in the tenant's own place as its role, its corpus tables made if missing; the tenant must be active. */
  async #inTenant<T>(tenantId: string, fn: (s: TenantSession) => Promise<T>): Promise<T> {
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
    const placed = tenant.status.placement?.profile;
    const ctx = isolationContext(tenantId, tenant.spec, placed);
    const key = `${tenantId}\u0000${ctx.profile}`;
    return this.warehouse().withTenant(ctx, async (session) => {
      if (!this.#prepared.has(key)) {
        await session.exec(TENANT_DDL);
        this.#prepared.add(key);
      }
      return fn(session);
    });
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

  /** Ingest one document: all its chunks or none; the same id and content again changes nothing. */
  async ingest(actor: Actor, tenantId: string, corpusName: string, doc: DocumentInput): Promise<IngestResult> {
    const corpus = await this.#corpus(tenantId, corpusName);
    const text = documentText(doc);
    const sha = createHash('sha256').update(text).digest('hex');
    const chunks = chunkText(text, corpus.config.chunkSize, corpus.config.chunkOverlap);
    const action = await this.#inTenant(tenantId, async (s) => {
      const [existing] = await s.query<{ content_sha256: string; source_uri: string; metadata: unknown }>(
        'select content_sha256, source_uri, metadata from tenancy_corpus_documents where corpus = $1 and id = $2',
        [corpusName, doc.id],
      );
      if (
        existing &&
        existing.content_sha256 === sha &&
        existing.source_uri === doc.source.uri &&
        jsonEqual(existing.metadata, doc.metadata ?? {})
      )
        return 'unchanged' as const;
      if (existing)
        await s.query('delete from tenancy_corpus_documents where corpus = $1 and id = $2', [corpusName, doc.id]);
      await s.query(
        `insert into tenancy_corpus_documents (corpus, id, content_sha256, source_uri, signature, metadata, chunks)
         values ($1, $2, $3, $4, $5, $6::jsonb, $7)`,
        [
          corpusName,
          doc.id,
          sha,
          doc.source.uri,
          doc.signature ?? null,
          JSON.stringify(doc.metadata ?? {}),
          chunks.length,
        ],
      );
      await s.query(
        `insert into tenancy_corpus_chunks (corpus, document_id, seq, text, tsv)
         select $1, $2, n::int, t, to_tsvector($3::regconfig, t) from unnest($4::text[]) with ordinality as u(t, n)`,
        [corpusName, doc.id, corpus.config.language, chunks],
      );
      return existing ? ('update' as const) : ('create' as const);
    });
    if (action !== 'unchanged')
      await this.audit.record(actor, {
        action: 'corpus.ingest',
        target: `tenant/${tenantId}/corpus/${corpusName}/document/${doc.id}`,
        tenantId,
        outcome: 'success',
        details: { corpus: corpusName, document: doc.id, action, chunks: chunks.length, contentSha256: sha },
      });
    return { id: doc.id, corpus: corpusName, status: 'indexed', action, chunks: chunks.length, contentSha256: sha };
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
    return {
      id,
      corpus: corpusName,
      status: row.status as string,
      chunks: row.chunks as number,
      contentSha256: row.content_sha256 as string,
      source: { uri: row.source_uri as string },
      signature: row.signature ? 'present' : 'absent',
      metadata: row.metadata as Record<string, unknown>,
      ingestedAt: iso(row.ingested_at),
    };
  }

  /** Remove a document and its chunks; 404 when unknown. */
  async deleteDocument(actor: Actor, tenantId: string, corpusName: string, id: string): Promise<void> {
    await this.#corpus(tenantId, corpusName);
    const gone = await this.#inTenant(tenantId, (s) =>
      s.query('delete from tenancy_corpus_documents where corpus = $1 and id = $2 returning id', [corpusName, id]),
    );
    if (gone.length === 0)
      throw new TenancyError('document_not_found', `document ${id} not found in corpus ${corpusName}`);
    await this.audit.record(actor, {
      action: 'corpus.delete_document',
      target: `tenant/${tenantId}/corpus/${corpusName}/document/${id}`,
      tenantId,
      outcome: 'success',
      details: { corpus: corpusName, document: id },
    });
  }

  /** The `k` best chunks for `query` (full-text rank), filtered by document metadata. */
  async retrieve(tenantId: string, input: RetrieveInput): Promise<{ items: RetrievedChunk[]; dropped: never[] }> {
    const corpus = await this.#corpus(tenantId, input.corpus);
    const rows = await this.#inTenant(tenantId, (s) =>
      s.query<Record<string, unknown>>(
        `select c.document_id, c.seq, c.text, ts_rank_cd(c.tsv, q.q)::float8 as score,
                d.source_uri, d.content_sha256, d.signature, d.ingested_at
           from tenancy_corpus_chunks c
           join tenancy_corpus_documents d on d.corpus = c.corpus and d.id = c.document_id,
                (select coalesce(string_agg(quote_literal(l), ' | '), '')::tsquery
                   from unnest(tsvector_to_array(to_tsvector($2::regconfig, $3))) as l) as q(q)
          where c.corpus = $1 and c.tsv @@ q.q and d.status = 'indexed' and d.metadata @> $4::jsonb
          order by score desc, c.document_id, c.seq
          limit $5`,
        [input.corpus, corpus.config.language, input.query, JSON.stringify(input.filter ?? {}), input.k],
      ),
    );
    return {
      items: rows.map((r) => ({
        chunkId: `${r.document_id as string}#${r.seq as number}`,
        documentId: r.document_id as string,
        text: r.text as string,
        score: Number(r.score),
        source: { uri: r.source_uri as string },
        provenance: {
          contentSha256: r.content_sha256 as string,
          signature: r.signature ? 'present' : 'absent',
          ingestedAt: iso(r.ingested_at),
        },
      })),
      dropped: [],
    };
  }
}
