/**
 * The model catalogue: `ModelProvider` documents stored by `apply` (platform roles only),
 * and the snapshot the router resolves model names with. A model name is unique across the
 * catalogue, so a tenant's router names models, not providers. A provider's base URL on a
 * private or loopback address is refused unless the operator allows it
 * (`TENANCY_ROUTER_ALLOW_PRIVATE`); the same guard checks every connection's address.
 * Every replica re-reads the catalogue when it changes here, and at most every two seconds.
 */
import type { Kysely } from 'kysely';
import { TenancyError, validationError, type FieldError } from '../errors.js';
import type { ReceiverGuard } from '../governance/index.js';
import { json } from '../infra/sql/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { DEFAULT_BASE_URLS, modelProviderDocumentSchema, type ProviderSpec } from './catalogue-schema.js';
import type { CatalogueModel, ProviderType } from './types.js';
import { jsonEqual, zodFieldErrors } from '../tenants/index.js';

/** A provider as the router uses it. */
export interface CatalogueProvider {
  name: string;
  type: ProviderType;
  baseUrl: string;
  region: string;
  apiKeySecret: string | undefined;
  timeoutMs: number;
  mock: { latencyMs: number; failureRate: number; seed?: string } | undefined;
  models: CatalogueModel[];
}

/** A model with the provider that serves it. */
export interface ResolvedModel {
  model: CatalogueModel;
  provider: CatalogueProvider;
}

/** The catalogue at one moment. */
export interface CatalogueSnapshot {
  providers: CatalogueProvider[];
  models: Map<string, ResolvedModel>;
}

/** What applying did to one provider. */
export interface ProviderPlanItem {
  kind: 'ModelProvider';
  name: string;
  source?: string;
  action: 'create' | 'update' | 'unchanged';
}

/** A stored provider as the API shows it. */
export interface ProviderInfo {
  apiVersion: 'tenancy/v1';
  kind: 'ModelProvider';
  metadata: { name: string; generation: number; updatedAt: string; updatedBy: string };
  spec: ProviderSpec;
}

const REFRESH_MS = 2_000;

function toProvider(name: string, spec: ProviderSpec): CatalogueProvider {
  return {
    name,
    type: spec.type,
    baseUrl: (spec.baseUrl ?? DEFAULT_BASE_URLS[spec.type] ?? 'mock://local').replace(/\/+$/, ''),
    region: spec.region,
    apiKeySecret: spec.apiKeySecret,
    timeoutMs: spec.timeoutMs,
    mock: spec.type === 'mock' ? (spec.mock ?? { latencyMs: 0, failureRate: 0 }) : undefined,
    models: spec.models.map((m) => ({ ...m, upstreamModel: m.upstreamModel ?? m.name })),
  };
}

/** The catalogue's store and its cached snapshot. */
export class ModelCatalogue {
  #snapshot: CatalogueSnapshot | undefined;
  #loadedAt = 0;
  #loading: Promise<CatalogueSnapshot> | undefined;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly guard: ReceiverGuard,
  ) {}

  /** The catalogue, re-read when older than two seconds or changed here. */
  async snapshot(): Promise<CatalogueSnapshot> {
    if (this.#snapshot && Date.now() - this.#loadedAt < REFRESH_MS) return this.#snapshot;
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #load(): Promise<CatalogueSnapshot> {
    const rows = await this.db.selectFrom('model_providers').select(['name', 'spec']).orderBy('name').execute();
    const providers: CatalogueProvider[] = [];
    const models = new Map<string, ResolvedModel>();
    for (const row of rows) {
      const parsed = modelProviderDocumentSchema.shape.spec.safeParse(row.spec);
      if (!parsed.success) continue;
      const provider = toProvider(row.name, parsed.data);
      providers.push(provider);
      for (const model of provider.models) if (!models.has(model.name)) models.set(model.name, { model, provider });
    }
    this.#snapshot = { providers, models };
    this.#loadedAt = Date.now();
    return this.#snapshot;
  }

  /** Forget the snapshot (after a change). */
  invalidate(): void {
    this.#loadedAt = 0;
  }

  /** Validate `ModelProvider` documents; throws one 400 listing every problem (pointers under `/items/{index}/manifest`). */
  parse(items: Array<{ index: number; manifest: unknown; source?: string | undefined }>): Array<{
    index: number;
    name: string;
    spec: ProviderSpec;
    source?: string | undefined;
  }> {
    const errors: FieldError[] = [];
    const out: Array<{ index: number; name: string; spec: ProviderSpec; source?: string | undefined }> = [];
    const seen = new Map<string, number>();
    const modelOwner = new Map<string, string>();
    for (const item of items) {
      const prefix = ['items', item.index, 'manifest'];
      const r = modelProviderDocumentSchema.safeParse(item.manifest);
      if (!r.success) {
        errors.push(...zodFieldErrors(r.error, prefix));
        continue;
      }
      const { name } = r.data.metadata;
      if (seen.has(name)) {
        errors.push({
          path: `/items/${item.index}/manifest/metadata/name`,
          message: `duplicate ModelProvider/${name} (first at /items/${seen.get(name)})`,
        });
        continue;
      }
      seen.set(name, item.index);
      r.data.spec.models.forEach((m, i) => {
        const other = modelOwner.get(m.name);
        if (other !== undefined && other !== name)
          errors.push({
            path: `/items/${item.index}/manifest/spec/models/${i}/name`,
            message: `model ${m.name} is also served by provider ${other} in this bundle`,
          });
        modelOwner.set(m.name, name);
      });
      if (r.data.spec.baseUrl !== undefined) {
        const url = new URL(r.data.spec.baseUrl);
        const literal = this.guard.literal(url);
        const why = literal === undefined ? undefined : this.guard.refusal(literal);
        if (why)
          errors.push({
            path: `/items/${item.index}/manifest/spec/baseUrl`,
            message: `${why}; providers on private or loopback addresses need TENANCY_ROUTER_ALLOW_PRIVATE=true`,
          });
      }
      out.push({ index: item.index, name, spec: r.data.spec, ...(item.source ? { source: item.source } : {}) });
    }
    if (errors.length > 0)
      throw validationError(
        `the bundle has ${errors.length} invalid field(s); nothing was applied`,
        errors,
        'invalid_bundle',
      );
    return out;
  }

  /** Store parsed providers in one transaction (or only plan them); all or nothing. */
  async apply(
    actor: Actor,
    docs: Array<{ index: number; name: string; spec: ProviderSpec; source?: string | undefined }>,
    dryRun: boolean,
  ): Promise<ProviderPlanItem[]> {
    const plan: ProviderPlanItem[] = [];
    await this.db.transaction().execute(async (trx) => {
      const names = docs.map((d) => d.name);
      const others = await trx.selectFrom('model_providers').select(['name', 'spec']).execute();
      const conflicts: FieldError[] = [];
      for (const d of docs) {
        d.spec.models.forEach((m, i) => {
          const owner = others.find(
            (o) =>
              !names.includes(o.name) &&
              ((o.spec.models as Array<{ name: string }>) ?? []).some((x) => x.name === m.name),
          );
          if (owner)
            conflicts.push({
              path: `/items/${d.index}/manifest/spec/models/${i}/name`,
              message: `model ${m.name} is already served by provider ${owner.name}`,
            });
        });
      }
      if (conflicts.length > 0)
        throw new TenancyError('model_name_taken', 'a model name is already in the catalogue; nothing was applied', {
          errors: conflicts,
        });
      for (const d of docs) {
        const existing = others.find((o) => o.name === d.name);
        const action = !existing ? 'create' : jsonEqual(existing.spec, d.spec) ? 'unchanged' : 'update';
        plan.push({ kind: 'ModelProvider', name: d.name, action, ...(d.source ? { source: d.source } : {}) });
        if (dryRun || action === 'unchanged') continue;
        const now = new Date().toISOString();
        if (action === 'create')
          await trx
            .insertInto('model_providers')
            .values({ name: d.name, spec: json(d.spec), generation: 1, updated_at: now, updated_by: actor.id })
            .execute();
        else
          await trx
            .updateTable('model_providers')
            .set((eb) => ({
              spec: json(d.spec),
              generation: eb('generation', '+', 1),
              updated_at: now,
              updated_by: actor.id,
            }))
            .where('name', '=', d.name)
            .execute();
        await this.audit.recordChange(trx, {
          actor,
          action: 'model_provider.apply',
          target: `platform/model-provider/${d.name}`,
          tenantId: null,
          outcome: 'success',
          details: {
            name: d.name,
            action,
            type: d.spec.type,
            region: d.spec.region,
            models: d.spec.models.map((m) => m.name),
          },
          event: { type: 'model_provider.applied', tenantId: null, payload: { name: d.name, action } },
        });
      }
    });
    if (!dryRun) this.invalidate();
    return plan;
  }

  /** Every stored provider. */
  async list(): Promise<ProviderInfo[]> {
    const rows = await this.db.selectFrom('model_providers').selectAll().orderBy('name').execute();
    return rows.map((r) => ({
      apiVersion: 'tenancy/v1',
      kind: 'ModelProvider',
      metadata: {
        name: r.name,
        generation: r.generation,
        updatedAt: new Date(r.updated_at).toISOString(),
        updatedBy: r.updated_by,
      },
      spec: r.spec as unknown as ProviderSpec,
    }));
  }

  /** One stored provider; 404 when unknown. */
  async get(name: string): Promise<ProviderInfo> {
    const found = (await this.list()).find((p) => p.metadata.name === name);
    if (!found) throw new TenancyError('model_provider_not_found', `model provider ${name} not found`);
    return found;
  }

  /** Remove a provider; its models leave the catalogue (routers naming them skip them). */
  async delete(actor: Actor, name: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('model_providers').where('name', '=', name).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0)
        throw new TenancyError('model_provider_not_found', `model provider ${name} not found`);
      await this.audit.recordChange(trx, {
        actor,
        action: 'model_provider.delete',
        target: `platform/model-provider/${name}`,
        tenantId: null,
        outcome: 'success',
        details: { name },
        event: { type: 'model_provider.deleted', tenantId: null, payload: { name } },
      });
    });
    this.invalidate();
  }
}
