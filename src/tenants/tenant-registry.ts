/**
 * The tenant registry: the use cases that change tenants (create, update, lifecycle verbs,
 * apply) and the reads. Every change writes its audit record and outbox event in the same
 * transaction; if either fails, nothing changes. Its queries sit beside it: listing
 * (tenant-listing.ts), documents (tenant-documents.ts), writes (tenant-writes.ts), and the
 * rules a change is checked against (tenant-change-rules.ts).
 */
import type { Kysely, Transaction } from 'kysely';
import { notFound, TenancyError, toPointer, validationError } from '../errors.js';
import {
  evaluateSovereignty,
  sovereigntyRefusal,
  type ApprovalGate,
  type SovereigntyRules,
  type SovereigntyViolation,
} from '../governance/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import { gatedChanges, type GateState } from './approval-rules.js';
import type { Schema } from '../schema.js';
import { jsonEqual, mergePatch, type FieldChange } from './json-diff.js';
import { applyFlagsOff, checkSpecFreeze, type FreezeGuard } from './freeze-guard.js';
import { nextPhase, type Phase, type Verb } from './lifecycle.js';
import type { FlagResolution } from './feature-flags.js';
import {
  parseOrThrow,
  tenantManifestSchema,
  type FeatureValue,
  type Plan,
  type Profile,
  type TenantManifest,
  type TenantDocument,
  type TenantSpec,
} from './manifest-schema.js';
import { effectiveFeatures, effectiveQuotas, type EffectiveQuotas } from './plans.js';
import { tenantFromRow, type Tenant } from './tenant.js';
import {
  approvalSettings,
  checkPatchShape,
  SOVEREIGNTY_SPEC_PATH,
  sovereigntyFacts,
  TENANT_CHANGE_APPLIER,
  type UpdateOptions,
  type UpdateResult,
} from './tenant-change-rules.js';
import {
  documentFlags,
  documentsFingerprint,
  routerBudget,
  gateStates,
  putDocuments,
  sovereigntyRules,
  sovereigntyRulesOf,
  tenantDocuments,
} from './tenant-documents.js';
import { countTenantsByPhase, listTenants, tenantPhase, type TenantListFilter } from './tenant-listing.js';
import { insertTenant, lockTenantRow, writeSpec, writeTransition } from './tenant-writes.js';

export { approvalSettings, SOVEREIGNTY_SPEC_PATH, sovereigntyFacts, TENANT_CHANGE_APPLIER };

/** What a tenant-facing subsystem needs to know: the tenant context. */
export interface TenantContext {
  id: string;
  uid: string;
  name: string;
  plan: Plan;
  profile: Profile;
  region: string;
  phase: Phase;
  environments: string[];
  labels: Record<string, string>;
  quotas: EffectiveQuotas;
  /** Plain values of the tenant's flags (rollouts already placed). */
  features: Record<string, boolean | string>;
  /** Each flag with its value, OpenFeature reason, variant and deciding layer. */
  flags: Record<string, FlagResolution>;
  generation: number;
}

/** Called after a commit that changed a tenant (cache invalidation, controller wake-up); `source` says who changed it. */
export type TenantChangeListener = (tenantId: string, source: 'api' | 'controller') => void;

/** The registry; one per control-plane process. */
export class TenantRegistry {
  readonly #listeners: TenantChangeListener[] = [];
  /**
   * Reads of single tenants, cleared on every change committed through this process and
   * expiring after `readCacheTtlMs` (the bound on staleness across replicas).
   */
  readonly #cache = new Map<string, { tenant: Tenant; json?: string; until: number }>();
  /** Bumped on every change, so a read that raced a write is not cached. */
  #changes = 0;
  #approvals: ApprovalGate | undefined;
  #freeze: FreezeGuard | undefined;

  constructor(
    readonly db: Kysely<Schema>,
    readonly audit: AuditLog,
    private readonly readCacheTtlMs = 1_000,
  ) {}

  /** Check risky changes against the tenant's error-budget freeze from now on (`freezeGuard`). */
  useFreeze(guard: FreezeGuard): void {
    this.#freeze = guard;
  }
  get freezeGuard(): FreezeGuard | undefined {
    return this.#freeze;
  }

  /** Put changes the tenant's governance names behind approvals from now on. */
  useApprovals(gate: ApprovalGate): void {
    this.#approvals = gate;
  }

  /** The approval gate, when approvals are on. */
  get approvals(): ApprovalGate | undefined {
    return this.#approvals;
  }

  /** Subscribe to committed changes. */
  onChange(listener: TenantChangeListener): void {
    this.#listeners.push(listener);
  }

  /** Tell listeners that `tenantId` changed (after commit). */
  notify(tenantId: string, source: 'api' | 'controller' = 'api'): void {
    this.#changes += 1;
    this.#cache.delete(tenantId);
    for (const l of this.#listeners) l(tenantId, source);
  }

  /** Validate a manifest without storing it. */
  validate(input: unknown, prefix: ReadonlyArray<string | number> = []): TenantManifest {
    return parseOrThrow(tenantManifestSchema, input, 'the tenant manifest', prefix, 'invalid_manifest');
  }

  /** Create a tenant; it starts in `provisioning`. An id that ever existed (even deleted) is taken. */
  async create(actor: Actor, input: unknown): Promise<Tenant> {
    const manifest = this.validate(input);
    const tenant = await this.db.transaction().execute(async (trx) => this.insertTenant(trx, actor, manifest));
    this.notify(tenant.metadata.id);
    return tenant;
  }

  /** Insert inside `trx` (shared by create and apply). */
  insertTenant(trx: Transaction<Schema>, actor: Actor, manifest: TenantManifest): Promise<Tenant> {
    return insertTenant(trx, this.audit, actor, manifest);
  }

  /** One tenant, or 404. */
  async get(id: string): Promise<Tenant> {
    const now = Date.now();
    const hit = this.#cache.get(id);
    if (hit && hit.until > now) return hit.tenant;
    const changesBefore = this.#changes;
    const row = await this.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('tenant_not_found', `tenant ${id} not found`);
    const tenant = tenantFromRow(row);
    if (this.readCacheTtlMs > 0 && changesBefore === this.#changes) {
      if (this.#cache.size >= 10_000) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(id, { tenant, until: now + this.readCacheTtlMs });
    }
    return tenant;
  }

  /** One tenant as JSON text; the hot read path serves this without serializing again. */
  async getJson(id: string): Promise<{ tenant: Tenant; json: string }> {
    const tenant = await this.get(id);
    const entry = this.#cache.get(id);
    if (entry && entry.tenant === tenant) {
      entry.json ??= JSON.stringify(tenant);
      return { tenant, json: entry.json };
    }
    return { tenant, json: JSON.stringify(tenant) };
  }

  /** How many tenants are in each lifecycle phase (phases with none are left out). */
  countByPhase(): Promise<Array<{ phase: Phase; count: number }>> {
    return countTenantsByPhase(this.db);
  }

  /** The tenant's phase, or undefined when there is no such tenant (a cheap read for guards). */
  phaseOf(id: string): Promise<Phase | undefined> {
    return tenantPhase(this.db, id);
  }

  /** The tenant context: effective quotas and features, topology, phase. */
  async context(id: string): Promise<TenantContext> {
    const tenant = await this.get(id);
    const docs = await this.db
      .selectFrom('tenant_documents')
      .select('spec')
      .where('tenant_id', '=', id)
      .where('kind', '=', 'TenantFeatures')
      .execute();
    const docFlags: Record<string, FeatureValue> = Object.assign(
      {},
      ...docs.map((d) => (d.spec as { flags?: Record<string, FeatureValue> }).flags ?? {}),
    );
    const off = this.#freeze ? await this.#freeze.flagsOff(id) : [];
    const { features, flags } = applyFlagsOff(effectiveFeatures(tenant.metadata.id, tenant.spec, docFlags), off);
    return {
      id: tenant.metadata.id,
      uid: tenant.metadata.uid,
      name: tenant.spec.name,
      plan: tenant.spec.plan,
      profile: tenant.spec.profile,
      region: tenant.spec.region,
      phase: tenant.status.phase,
      environments: tenant.spec.environments,
      labels: tenant.metadata.labels,
      quotas: effectiveQuotas(tenant.spec),
      features,
      flags,
      generation: tenant.metadata.generation,
    };
  }

  /** The documents stored for a tenant (features, router, sovereignty, policies). */
  async documents(id: string): Promise<TenantDocument[]> {
    await this.get(id);
    return tenantDocuments(this.db, id);
  }

  /** A page of tenants in id order; `next` is the cursor for the following page. */
  list(filter: TenantListFilter): Promise<{ items: Tenant[]; next: string | null }> {
    return listTenants(this.db, filter);
  }

  /**
   * Apply a JSON merge patch to `metadata.labels` and `spec`; 412 when the generation moved
   * on. A change the tenant's governance puts behind an approval is stored as a pending
   * approval instead (`approval` in the result) and the tenant is left as it was.
   */
  async update(actor: Actor, id: string, patch: unknown, options: UpdateOptions = {}): Promise<UpdateResult> {
    checkPatchShape(patch, options);
    const result = await this.db.transaction().execute(async (trx) => this.updateIn(trx, actor, id, patch, options));
    if (result.changes.length > 0) this.notify(id);
    return result;
  }

  /** {@link update} inside `trx` (an approval applies its change in the decision's transaction). */
  async updateIn(
    trx: Transaction<Schema>,
    actor: Actor,
    id: string,
    patch: unknown,
    options: UpdateOptions = {},
  ): Promise<UpdateResult> {
    checkPatchShape(patch, options);
    const row = await lockTenantRow(trx, id);
    if (options.expectedGeneration !== undefined && options.expectedGeneration !== row.generation) {
      throw new TenancyError(
        'precondition_failed',
        `tenant ${id} is at generation ${row.generation}, not ${options.expectedGeneration}`,
        { extensions: { generation: row.generation } },
      );
    }
    nextPhase('update', row.phase as Phase, id);
    const current = { apiVersion: 'tenancy/v1', kind: 'Tenant', metadata: { id, labels: row.labels }, spec: row.spec };
    const merged = mergePatch(current, patch);
    const manifest = this.validate(merged);
    const before = row.spec as unknown as TenantSpec;
    if (
      before.region !== manifest.spec.region ||
      before.profile !== manifest.spec.profile ||
      before.plan !== manifest.spec.plan ||
      !jsonEqual(before.config ?? null, manifest.spec.config ?? null)
    ) {
      const violations = await this.sovereigntyViolations(
        trx,
        id,
        manifest.spec,
        before.region !== manifest.spec.region ? 'move' : 'provision',
      );
      if (violations.length > 0)
        throw sovereigntyRefusal(violations, (v) => toPointer(SOVEREIGNTY_SPEC_PATH[v.field]), `changing tenant ${id}`);
    }
    if (this.#freeze && options.approvalId === undefined)
      await checkSpecFreeze(this.#freeze, trx, actor, id, before, manifest.spec, options.freezeOverride);
    if (this.#approvals && options.approvalId === undefined) {
      const flags = await this.documentFlags(trx, id);
      const gated = gatedChanges({ spec: before, docFlags: flags }, { spec: manifest.spec, docFlags: flags }, id);
      if (gated.kinds.length > 0) {
        const approval = await this.#approvals.requestApproval(trx, actor, {
          tenantId: id,
          kind: gated.kinds[0]!,
          kinds: gated.kinds,
          summary: gated.summary,
          payload: { type: 'patch', patch: patch as Record<string, unknown> },
          base: {
            generations: { [id]: row.generation },
            documents: { [id]: await this.documentsFingerprint(trx, id) },
          },
          applier: TENANT_CHANGE_APPLIER,
          ...approvalSettings(before),
          ...(options.role ? { requestedRole: options.role } : {}),
        });
        return { tenant: tenantFromRow(row), changes: [], approval };
      }
    }
    return writeSpec(
      trx,
      this.audit,
      actor,
      row,
      manifest,
      'tenant.update',
      options.approvalId ? { approvalId: options.approvalId } : undefined,
    );
  }

  /** Every sovereignty rule `spec` breaks for tenant `id` (the documents as seen by `trx`). */
  async sovereigntyViolations(
    trx: Transaction<Schema> | Kysely<Schema>,
    id: string,
    spec: TenantSpec,
    operation: 'provision' | 'move',
  ): Promise<SovereigntyViolation[]> {
    const out: SovereigntyViolation[] = [];
    for (const rules of await this.sovereigntyRules(trx, id))
      out.push(...evaluateSovereignty(rules, { operation, facts: sovereigntyFacts(spec) }));
    return out;
  }

  /** The tenant's data-sovereignty rules (one per DataSovereignty document; all of them hold). */
  sovereigntyRules(trx: Transaction<Schema> | Kysely<Schema>, id: string): Promise<SovereigntyRules[]> {
    return sovereigntyRules(trx, id);
  }

  /** The flags of the tenant's TenantFeatures documents, merged in name order. */
  documentFlags(trx: Transaction<Schema> | Kysely<Schema>, id: string): Promise<Record<string, boolean | string>> {
    return documentFlags(trx, id);
  }

  /** The budget of the tenant's model router (its TenantRouter document). */
  routerBudget(trx: Transaction<Schema> | Kysely<Schema>, id: string): ReturnType<typeof routerBudget> {
    return routerBudget(trx, id);
  }

  /** A hash of every document of the tenant: an approval based on other documents is stale. */
  documentsFingerprint(trx: Transaction<Schema> | Kysely<Schema>, id: string): Promise<string> {
    return documentsFingerprint(trx, id);
  }

  /**
   * What approvals compare for each of `ids` that exists, as seen by `trx`: the stored spec
   * and generation, and (only for tenants whose governance requires approvals) the document
   * flags and fingerprint. One query for the common case of tenants without approvals.
   */
  gateStates(
    trx: Transaction<Schema>,
    ids: readonly string[],
  ): Promise<Map<string, GateState & { generation: number; documents?: string }>> {
    return gateStates(trx, ids);
  }

  /** The data-sovereignty rules of each of `ids` (tenants without rules are absent), in one query. */
  sovereigntyRulesOf(
    trx: Transaction<Schema> | Kysely<Schema>,
    ids: readonly string[],
  ): Promise<Map<string, SovereigntyRules[]>> {
    return sovereigntyRulesOf(trx, ids);
  }

  /** Run a lifecycle verb (suspend, resume, archive, restore, delete). */
  async transition(actor: Actor, id: string, verb: Exclude<Verb, 'update'>, reason?: string): Promise<Tenant> {
    if (verb === 'suspend' && (reason === undefined || reason.trim() === '')) {
      throw validationError('suspending a tenant needs a reason', [{ path: '/reason', message: 'is required' }]);
    }
    const tenant = await this.db
      .transaction()
      .execute(async (trx) => writeTransition(trx, this.audit, actor, id, verb, reason));
    this.notify(id);
    return tenant;
  }

  /** Store documents for a tenant inside `trx` (apply); replaces any with the same kind and name. */
  putDocuments(
    trx: Transaction<Schema>,
    actor: Actor,
    tenantId: string,
    docs: TenantDocument[],
  ): Promise<{ created: number; updated: number }> {
    return putDocuments(trx, this.audit, actor, tenantId, docs);
  }

  /** Update inside `trx` from a full manifest (apply). */
  async replaceSpec(
    trx: Transaction<Schema>,
    actor: Actor,
    manifest: TenantManifest,
    extra?: Record<string, unknown>,
  ): Promise<{ tenant: Tenant; changes: FieldChange[] }> {
    const row = await lockTenantRow(trx, manifest.metadata.id);
    const before = { metadata: { labels: row.labels }, spec: row.spec };
    const after = { metadata: { labels: manifest.metadata.labels ?? {} }, spec: manifest.spec };
    if (!jsonEqual(before, after)) nextPhase('update', row.phase as Phase, row.id);
    return writeSpec(trx, this.audit, actor, row, manifest, 'tenant.apply', extra);
  }
}
