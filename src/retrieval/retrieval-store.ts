/**
 * Corpora: settings in the control-plane store, documents, chunks and the full-text index in
 * the tenant's own place (its schema or database), reached only through the warehouse's
 * tenant session, as the tenant's own role (`corpus-access.ts`). So a corpus moves, archives,
 * restores and is purged with the tenant, and no query of one tenant can name another's
 * tables. Ingest (`retrieval-ingest.ts`) is one transaction per document (nothing
 * half-ingested), idempotent by document id and content hash, and judged by the guard;
 * search (`retrieval-search.ts`) is PostgreSQL full-text search, the same on PGlite and
 * PostgreSQL, fused with vector similarity where the corpus has vectors, through the guard.
 */
import type { Kysely } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { TenancyError } from '../errors.js';
import { json } from '../infra/sql/index.js';
import type { Warehouse } from '../isolation/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { jsonEqual, type TenantRegistry } from '../tenants/index.js';
import { CorpusAccess, type RetrievalOptions } from './corpus-access.js';
import { corpusConfigSchema, type CorpusConfig, type DocumentInput, type RetrieveInput } from './corpus-schema.js';
import {
  documentInfo,
  iso,
  rawDocumentKey,
  type CorpusInfo,
  type DocumentInfo,
  type IngestResult,
  type RetrieveResult,
} from './corpus-rows.js';
import type { ActivePolicy } from './policy-cache.js';
import { ingestDocument } from './retrieval-ingest.js';
import { searchCorpus } from './retrieval-search.js';
import { arrayLiteral } from './vectors.js';

export { purgeTenantCorpora, rawDocumentKey } from './corpus-rows.js';
export type {
  CorpusInfo,
  DocumentInfo,
  DroppedChunk,
  IngestResult,
  RetrievedChunk,
  RetrieveResult,
} from './corpus-rows.js';

/** Tenants' corpora. */
export class RetrievalStore {
  readonly #listeners: Array<(tenantId: string, ok: boolean, latencyMs: number) => void> = [];
  readonly #access: CorpusAccess;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    registry: TenantRegistry,
    warehouse: () => Warehouse,
    private readonly options: RetrievalOptions = {},
  ) {
    this.#access = new CorpusAccess(db, audit, registry, warehouse, options);
  }

  /** Call `listener` after every retrieval (its outcome and latency: the retrieval SLI). */
  onRetrieve(listener: (tenantId: string, ok: boolean, latencyMs: number) => void): void {
    this.#listeners.push(listener);
  }

  /** Forget cached releases and answers of a tenant's corpus (after a release decision). */
  invalidate(tenantId: string, corpus: string): Promise<void> {
    return this.#access.invalidate(tenantId, corpus);
  }

  /** The tenant's retrieval policy as the guard runs it now. */
  policy(tenantId: string): Promise<ActivePolicy> {
    return this.#access.policies.get(tenantId);
  }

  /** Create or configure a corpus; 201-worthy `created` when it is new. */
  async putCorpus(
    actor: Actor,
    tenantId: string,
    name: string,
    config: CorpusConfig,
  ): Promise<{ corpus: CorpusInfo; created: boolean }> {
    await this.#access.registry.get(tenantId);
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
    return { corpus: await this.#access.corpus(tenantId, name), created };
  }

  /** A corpus's settings; 404 when unknown. */
  getCorpus(tenantId: string, name: string): Promise<CorpusInfo> {
    return this.#access.corpus(tenantId, name);
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
   * nothing; judged by the guard (`retrieval-ingest.ts`).
   */
  ingest(actor: Actor, tenantId: string, corpusName: string, doc: DocumentInput): Promise<IngestResult> {
    return ingestDocument(this.#access, actor, tenantId, corpusName, doc);
  }

  /** One document's record; 404 when unknown. */
  async getDocument(tenantId: string, corpusName: string, id: string): Promise<DocumentInfo> {
    await this.#access.corpus(tenantId, corpusName);
    const [row] = await this.#access.inTenant(tenantId, (s) =>
      s.query<Record<string, unknown>>('select * from tenancy_corpus_documents where corpus = $1 and id = $2', [
        corpusName,
        id,
      ]),
    );
    if (!row) throw new TenancyError('document_not_found', `document ${id} not found in corpus ${corpusName}`);
    const released = await this.#access.released(tenantId, corpusName);
    return documentInfo(corpusName, row, released.get(`${id}:${row.content_sha256 as string}`));
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
    await this.#access.corpus(tenantId, corpusName);
    const rows = await this.#access.inTenant(tenantId, (s) =>
      s.query<Record<string, unknown>>(
        `select * from tenancy_corpus_documents where corpus = $1 and status = 'quarantined' and id > $2
          order by id limit $3`,
        [corpusName, after ?? '', limit],
      ),
    );
    const released = await this.#access.released(tenantId, corpusName);
    return rows.map((r) =>
      documentInfo(corpusName, r, released.get(`${r.id as string}:${r.content_sha256 as string}`)),
    );
  }

  /** Remove a document and its chunks; 404 when unknown. */
  async deleteDocument(actor: Actor, tenantId: string, corpusName: string, id: string): Promise<void> {
    await this.#access.corpus(tenantId, corpusName);
    const gone = await this.#access.inTenant(tenantId, (s) =>
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
    this.#access.forgetReleases(tenantId, corpusName);
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
    const corpus = await this.#access.corpus(tenantId, input.corpus);
    const policy = await this.#access.policies.get(tenantId);
    const released = await this.#access.released(tenantId, input.corpus);
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
      result = await searchCorpus(
        this.#access,
        tenantId,
        corpus,
        input,
        policy,
        released,
        actor?.correlationId ?? uuidv7(),
      );
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
