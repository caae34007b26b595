/**
 * How retrieval reaches a tenant's corpora: the tenant must be active; its corpus tables are
 * made in its own place on first use (once per process and place); every query runs in the
 * warehouse's tenant session, as the tenant's own role. Also the corpus settings, the
 * releases from quarantine, and the tenant's retrieval policy, each cached briefly.
 */
import type { Kysely } from 'kysely';
import { TenancyError } from '../errors.js';
import { isolationContext, type TenantObjects, type TenantSession, type Warehouse } from '../isolation/index.js';
import type { AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { Tenant, TenantRegistry } from '../tenants/index.js';
import type { Embedder } from './chunk-embeddings.js';
import { corpusConfigSchema } from './corpus-schema.js';
import { iso, TENANT_DDL, type CorpusInfo, type ReleaseRow } from './corpus-rows.js';
import { PolicyCache } from './policy-cache.js';
import type { RetrievalCache } from './retrieval-cache.js';
import type { RetrievalLineage } from './retrieval-lineage.js';
import { VECTOR_DDL } from './vectors.js';

/** What retrieval is built with besides the store and the warehouse. */
export interface RetrievalOptions {
  cache?: RetrievalCache;
  lineage?: RetrievalLineage;
  /** The tenants' object places: each document's bytes as sent are kept there. */
  objects?: () => TenantObjects;
  /** Embeds chunks and queries through the tenant's model router (corpora with an embedding model). */
  embedder?: Embedder;
}

/** Access to tenants' corpora, shared by ingest, search and the store. */
export class CorpusAccess {
  readonly #prepared = new Set<string>();
  readonly #preparing = new Map<string, Promise<void>>();
  readonly #releases = new Map<string, { at: number; keys: Map<string, ReleaseRow> }>();
  readonly policies: PolicyCache;

  constructor(
    readonly db: Kysely<Schema>,
    readonly audit: AuditLog,
    readonly registry: TenantRegistry,
    private readonly warehouse: () => Warehouse,
    readonly options: RetrievalOptions,
  ) {
    this.policies = new PolicyCache(registry);
    registry.onChange((id) => {
      for (const key of this.#prepared) if (key.startsWith(`${id}\u0000`)) this.#prepared.delete(key);
      for (const key of this.#releases.keys()) if (key.startsWith(`${id}\u0000`)) this.#releases.delete(key);
    });
  }

  /** Forget the cached releases of a corpus. */
  forgetReleases(tenantId: string, corpus: string): void {
    this.#releases.delete(`${tenantId}\u0000${corpus}`);
  }

  /** Run `fn` in the tenant's own place as its role, its corpus tables made if missing; the tenant must be active. */
  async inTenant<T>(tenantId: string, fn: (s: TenantSession) => Promise<T>): Promise<T> {
    const tenant = await this.activeTenant(tenantId);
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
  async activeTenant(tenantId: string): Promise<Tenant> {
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

  async corpus(tenantId: string, name: string): Promise<CorpusInfo> {
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
  async released(tenantId: string, corpus: string): Promise<Map<string, ReleaseRow>> {
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
}
