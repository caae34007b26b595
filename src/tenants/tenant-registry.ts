/**
 * The tenant registry: the use cases that change tenants (create, update, lifecycle verbs,
 * apply) and the reads. Every change writes its audit record and outbox event in the same
 * transaction; if either fails, nothing changes.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { TenancyError, conflict, notFound, toPointer, validationError, type FieldError } from '../errors.js';
import {
  evaluateSovereignty,
  sovereigntyRefusal,
  type Approval,
  type ApprovalGate,
  type SovereigntyFacts,
  type SovereigntyRules,
  type SovereigntyViolation,
} from '../governance/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import { gatedChanges, type GateState } from './approval-rules.js';
import { json, type Schema } from '../infra/sql/index.js';
import { diff, jsonEqual, mergePatch, type FieldChange } from './json-diff.js';
import { nextPhase, PHASES, type Phase, type Verb } from './lifecycle.js';
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
import { effectiveFeatures, effectiveQuotas, keyRotationDays, PLAN_DEFAULTS, type EffectiveQuotas } from './plans.js';
import { setCondition, tenantFromRow, type Tenant, type TenantRow } from './tenant.js';

/** Filters for listing tenants. */
export interface TenantListFilter {
  phase?: Phase | undefined;
  plan?: string | undefined;
  profile?: string | undefined;
  region?: string | undefined;
  labelSelector?: LabelRequirement[] | undefined;
  /** Only this tenant (tenant-scoped callers). */
  onlyId?: string | undefined;
  includeDeleted?: boolean | undefined;
  after?: string | undefined;
  limit: number;
}

/** One term of a label selector (`k=v`, `k!=v`, `k`, `!k`). */
export type LabelRequirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'exists' | 'absent' };

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

/** Options for {@link TenantRegistry.update}. */
export interface UpdateOptions {
  /** The generation the caller last saw (from `If-Match`); mismatch is 412. */
  expectedGeneration?: number | undefined;
  /** Spec fields the caller may not change (tenant roles cannot change plan, quotas…). */
  lockedSpecFields?: readonly string[] | undefined;
  /** The caller's role (recorded on an approval request). */
  role?: string | undefined;
  /** Set when an approved approval applies this change: it is not gated again. */
  approvalId?: string | undefined;
}

/** The result of an update: the change applied, or (with `approval`) waiting for an approver. */
export interface UpdateResult {
  tenant: Tenant;
  changes: FieldChange[];
  approval?: Approval;
}

/** The applier name tenant changes are stored under in the approval gate. */
export const TENANT_CHANGE_APPLIER = 'tenant.change';

/** Where a violated sovereignty fact sits in a tenant manifest. */
export const SOVEREIGNTY_SPEC_PATH: Record<SovereigntyViolation['field'], string[]> = {
  region: ['spec', 'region'],
  profile: ['spec', 'profile'],
  encryption: ['spec', 'config', 'encryption'],
  keyRotationDays: ['spec', 'config', 'keyRotationDays'],
  atRest: ['spec', 'config', 'encryption'],
  url: ['spec', 'byoc'],
  createdAt: ['metadata', 'createdAt'],
};

/** The facts sovereignty rules are checked against, from a spec. */
export function sovereigntyFacts(spec: TenantSpec): SovereigntyFacts {
  return {
    region: spec.region,
    profile: spec.profile,
    encryption: spec.config?.encryption ?? PLAN_DEFAULTS[spec.plan].encryption,
    keyRotationDays: keyRotationDays(spec),
  };
}

/** Called after a commit that changed a tenant (cache invalidation, controller wake-up); `source` says who changed it. */
export type TenantChangeListener = (tenantId: string, source: 'api' | 'controller') => void;

const UPDATABLE_TOP_LEVEL = new Set(['metadata', 'spec']);

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

  constructor(
    readonly db: Kysely<Schema>,
    readonly audit: AuditLog,
    private readonly readCacheTtlMs = 1_000,
  ) {}

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
  async insertTenant(trx: Transaction<Schema>, actor: Actor, manifest: TenantManifest): Promise<Tenant> {
    const now = new Date().toISOString();
    const id = manifest.metadata.id;
    const inserted = await trx
      .insertInto('tenants')
      .values({
        id,
        uid: uuidv7(),
        generation: 1,
        spec: json(manifest.spec),
        labels: json(manifest.metadata.labels ?? {}),
        plan: manifest.spec.plan,
        profile: manifest.spec.profile,
        region: manifest.spec.region,
        phase: 'provisioning',
        observed_generation: 0,
        conditions: json([
          {
            type: 'Ready',
            status: 'False',
            reason: 'Provisioning',
            message: 'waiting for the controller',
            lastTransitionTime: now,
          },
        ]),
        status_reason: null,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!inserted) {
      throw conflict('tenant_exists', `tenant ${id} already exists (ids stay reserved after deletion)`);
    }
    await this.audit.recordChange(trx, {
      actor,
      action: 'tenant.create',
      target: `tenant/${id}`,
      tenantId: id,
      outcome: 'success',
      details: { plan: manifest.spec.plan, profile: manifest.spec.profile },
      event: { type: 'tenant.created', tenantId: id, payload: { id, generation: 1 } },
    });
    return tenantFromRow(inserted);
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

  /** The tenant's phase, or undefined when there is no such tenant (a cheap read for guards). */
  /** How many tenants are in each lifecycle phase (phases with none are left out). */
  async countByPhase(): Promise<Array<{ phase: Phase; count: number }>> {
    const rows = await this.db
      .selectFrom('tenants')
      .select(['phase', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('phase')
      .execute();
    return rows.map((r) => ({ phase: r.phase as Phase, count: Number(r.n) }));
  }

  async phaseOf(id: string): Promise<Phase | undefined> {
    const row = await this.db.selectFrom('tenants').select('phase').where('id', '=', id).executeTakeFirst();
    return row?.phase as Phase | undefined;
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
    const { features, flags } = effectiveFeatures(tenant.metadata.id, tenant.spec, docFlags);
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
    const rows = await this.db
      .selectFrom('tenant_documents')
      .selectAll()
      .where('tenant_id', '=', id)
      .orderBy('kind')
      .orderBy('name')
      .execute();
    return rows.map((r) => ({
      kind: r.kind as TenantDocument['kind'],
      tenant: r.tenant_id,
      name: r.name,
      spec: r.spec as Record<string, unknown>,
      ...(r.source ? { source: r.source } : {}),
    }));
  }

  /** A page of tenants in id order; `next` is the cursor for the following page. */
  async list(filter: TenantListFilter): Promise<{ items: Tenant[]; next: string | null }> {
    let q = this.db.selectFrom('tenants').selectAll();
    if (filter.onlyId !== undefined) q = q.where('id', '=', filter.onlyId);
    if (filter.phase !== undefined) q = q.where('phase', '=', filter.phase);
    else if (!filter.includeDeleted) q = q.where('phase', '<>', 'deleted');
    if (filter.plan !== undefined) q = q.where('plan', '=', filter.plan);
    if (filter.profile !== undefined) q = q.where('profile', '=', filter.profile);
    if (filter.region !== undefined) q = q.where('region', '=', filter.region);
    for (const req of filter.labelSelector ?? []) {
      if (req.op === 'eq') q = q.where(sql<boolean>`labels @> ${json({ [req.key]: req.value })}`);
      else if (req.op === 'neq') q = q.where(sql<boolean>`not (labels @> ${json({ [req.key]: req.value })})`);
      else if (req.op === 'exists') q = q.where(sql<boolean>`labels ? ${req.key}`);
      else q = q.where(sql<boolean>`not (labels ? ${req.key})`);
    }
    if (filter.after !== undefined) q = q.where('id', '>', filter.after);
    const rows = await q
      .orderBy('id')
      .limit(filter.limit + 1)
      .execute();
    const page = rows.slice(0, filter.limit);
    const next = rows.length > filter.limit ? page[page.length - 1]!.id : null;
    return { items: page.map(tenantFromRow), next };
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
    const row = await this.#lockRow(trx, id);
    if (options.expectedGeneration !== undefined && options.expectedGeneration !== row.generation) {
      throw new TenancyError(
        'precondition_failed',
        412,
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
    return this.#writeSpec(
      trx,
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
  async sovereigntyRules(trx: Transaction<Schema> | Kysely<Schema>, id: string): Promise<SovereigntyRules[]> {
    const docs = await trx
      .selectFrom('tenant_documents')
      .select('spec')
      .where('tenant_id', '=', id)
      .where('kind', '=', 'DataSovereignty')
      .orderBy('name')
      .execute();
    return docs.map((d) => d.spec as SovereigntyRules);
  }

  /** The flags of the tenant's TenantFeatures documents, merged in name order. */
  async documentFlags(
    trx: Transaction<Schema> | Kysely<Schema>,
    id: string,
  ): Promise<Record<string, boolean | string>> {
    const docs = await trx
      .selectFrom('tenant_documents')
      .select('spec')
      .where('tenant_id', '=', id)
      .where('kind', '=', 'TenantFeatures')
      .orderBy('name')
      .execute();
    return Object.assign({}, ...docs.map((d) => (d.spec as { flags?: Record<string, boolean | string> }).flags ?? {}));
  }

  /** A hash of every document of the tenant: an approval based on other documents is stale. */
  async documentsFingerprint(trx: Transaction<Schema> | Kysely<Schema>, id: string): Promise<string> {
    const docs = await trx
      .selectFrom('tenant_documents')
      .select(['kind', 'name', 'spec'])
      .where('tenant_id', '=', id)
      .orderBy('kind')
      .orderBy('name')
      .execute();
    return createHash('sha256')
      .update(JSON.stringify(docs.map((d) => [d.kind, d.name, d.spec])))
      .digest('hex');
  }

  /**
   * What approvals compare for each of `ids` that exists, as seen by `trx`: the stored spec
   * and generation, and (only for tenants whose governance requires approvals) the document
   * flags and fingerprint. One query for the common case of tenants without approvals.
   */
  async gateStates(
    trx: Transaction<Schema>,
    ids: readonly string[],
  ): Promise<Map<string, GateState & { generation: number; documents?: string }>> {
    const out = new Map<string, GateState & { generation: number; documents?: string }>();
    if (ids.length === 0) return out;
    const rows = await trx
      .selectFrom('tenants')
      .select(['id', 'spec', 'generation'])
      .where('id', 'in', [...ids])
      .execute();
    for (const row of rows) {
      const spec = row.spec as unknown as TenantSpec;
      const gated = (spec.governance?.approvals?.require?.length ?? 0) > 0;
      out.set(
        row.id,
        gated
          ? {
              spec,
              generation: row.generation,
              docFlags: await this.documentFlags(trx, row.id),
              documents: await this.documentsFingerprint(trx, row.id),
            }
          : { spec, generation: row.generation, docFlags: {} },
      );
    }
    return out;
  }

  /** The data-sovereignty rules of each of `ids` (tenants without rules are absent), in one query. */
  async sovereigntyRulesOf(
    trx: Transaction<Schema> | Kysely<Schema>,
    ids: readonly string[],
  ): Promise<Map<string, SovereigntyRules[]>> {
    const out = new Map<string, SovereigntyRules[]>();
    if (ids.length === 0) return out;
    const docs = await trx
      .selectFrom('tenant_documents')
      .select(['tenant_id', 'spec'])
      .where('tenant_id', 'in', [...ids])
      .where('kind', '=', 'DataSovereignty')
      .orderBy('tenant_id')
      .orderBy('name')
      .execute();
    for (const d of docs) out.set(d.tenant_id, [...(out.get(d.tenant_id) ?? []), d.spec as SovereigntyRules]);
    return out;
  }

  /** Store a validated manifest over an existing row (update and apply); no-op when nothing differs. */
  async #writeSpec(
    trx: Transaction<Schema>,
    actor: Actor,
    row: TenantRow,
    manifest: TenantManifest,
    action: string,
    extra?: Record<string, unknown>,
  ): Promise<{ tenant: Tenant; changes: FieldChange[] }> {
    const before = { metadata: { labels: row.labels }, spec: row.spec };
    const after = { metadata: { labels: manifest.metadata.labels ?? {} }, spec: manifest.spec };
    const changes = diff(before, after);
    if (changes.length === 0) return { tenant: tenantFromRow(row), changes };
    const generation = row.generation + 1;
    const updated = await trx
      .updateTable('tenants')
      .set({
        spec: json(manifest.spec),
        labels: json(manifest.metadata.labels ?? {}),
        plan: manifest.spec.plan,
        profile: manifest.spec.profile,
        region: manifest.spec.region,
        generation,
        updated_at: new Date().toISOString(),
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.audit.recordChange(trx, {
      actor,
      action,
      target: `tenant/${row.id}`,
      tenantId: row.id,
      outcome: 'success',
      details: { generation, changed: changes.map((c) => c.path), ...extra },
      event: {
        type: 'tenant.updated',
        tenantId: row.id,
        payload: { id: row.id, generation, changed: changes.map((c) => c.path) },
      },
    });
    return { tenant: tenantFromRow(updated), changes };
  }

  /** Run a lifecycle verb (suspend, resume, archive, restore, delete). */
  async transition(actor: Actor, id: string, verb: Exclude<Verb, 'update'>, reason?: string): Promise<Tenant> {
    if (verb === 'suspend' && (reason === undefined || reason.trim() === '')) {
      throw validationError('suspending a tenant needs a reason', [{ path: '/reason', message: 'is required' }]);
    }
    const tenant = await this.db.transaction().execute(async (trx) => {
      const row = await this.#lockRow(trx, id);
      const from = row.phase as Phase;
      const to = nextPhase(verb, from, id);
      if (verb === 'delete') {
        const createdAt = new Date(row.created_at);
        const violations = (await this.sovereigntyRules(trx, id)).flatMap((rules) =>
          evaluateSovereignty(rules, { operation: 'delete', dataClass: 'data', createdAt }),
        );
        if (violations.length > 0) throw sovereigntyRefusal(violations, () => '', `deleting tenant ${id}`);
      }
      const now = new Date();
      let conditions = row.conditions as Tenant['status']['conditions'];
      const readyReason = {
        suspend: 'Suspended',
        resume: 'Resumed',
        archive: 'Archiving',
        restore: 'Restoring',
        delete: 'Deleting',
      }[verb];
      conditions = setCondition(
        conditions,
        {
          type: 'Ready',
          status: verb === 'resume' ? 'True' : 'False',
          reason: readyReason,
          message: reason ?? `${verb} requested`,
        },
        now,
      );
      const updated = await trx
        .updateTable('tenants')
        .set({ phase: to, status_reason: reason ?? null, conditions: json(conditions), updated_at: now.toISOString() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.audit.recordChange(trx, {
        actor,
        action: `tenant.${verb}`,
        target: `tenant/${id}`,
        tenantId: id,
        outcome: 'success',
        details: { from, to, ...(reason ? { reason } : {}) },
        event: {
          type: `tenant.${verb === 'delete' ? 'deleting' : `${verb}${verb.endsWith('e') ? 'd' : 'ed'}`}`,
          tenantId: id,
          payload: { id, from, to },
        },
      });
      return tenantFromRow(updated);
    });
    this.notify(id);
    return tenant;
  }

  /** Store documents for a tenant inside `trx` (apply); replaces any with the same kind and name. */
  async putDocuments(
    trx: Transaction<Schema>,
    actor: Actor,
    tenantId: string,
    docs: TenantDocument[],
  ): Promise<{ created: number; updated: number }> {
    let created = 0;
    let updated = 0;
    for (const doc of docs) {
      const existing = await trx
        .selectFrom('tenant_documents')
        .select('spec')
        .where('tenant_id', '=', tenantId)
        .where('kind', '=', doc.kind)
        .where('name', '=', doc.name)
        .executeTakeFirst();
      if (existing && jsonEqual(existing.spec, doc.spec)) continue;
      await trx
        .insertInto('tenant_documents')
        .values({
          tenant_id: tenantId,
          kind: doc.kind,
          name: doc.name,
          spec: json(doc.spec),
          source: doc.source ?? null,
          updated_at: new Date().toISOString(),
        })
        .onConflict((oc) =>
          oc
            .columns(['tenant_id', 'kind', 'name'])
            .doUpdateSet({ spec: json(doc.spec), source: doc.source ?? null, updated_at: new Date().toISOString() }),
        )
        .execute();
      await this.audit.recordChange(trx, {
        actor,
        action: 'tenant.document.put',
        target: `tenant/${tenantId}/${doc.kind}/${doc.name}`,
        tenantId,
        outcome: 'success',
        details: { kind: doc.kind, name: doc.name },
        event: { type: 'tenant.document_changed', tenantId, payload: { id: tenantId, kind: doc.kind, name: doc.name } },
      });
      if (existing) updated += 1;
      else created += 1;
    }
    return { created, updated };
  }

  /** Update inside `trx` from a full manifest (apply). */
  async replaceSpec(
    trx: Transaction<Schema>,
    actor: Actor,
    manifest: TenantManifest,
    extra?: Record<string, unknown>,
  ): Promise<{ tenant: Tenant; changes: FieldChange[] }> {
    const row = await this.#lockRow(trx, manifest.metadata.id);
    const before = { metadata: { labels: row.labels }, spec: row.spec };
    const after = { metadata: { labels: manifest.metadata.labels ?? {} }, spec: manifest.spec };
    if (!jsonEqual(before, after)) nextPhase('update', row.phase as Phase, row.id);
    return this.#writeSpec(trx, actor, row, manifest, 'tenant.apply', extra);
  }

  async #lockRow(trx: Transaction<Schema>, id: string): Promise<TenantRow> {
    const row = await trx.selectFrom('tenants').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!row) throw notFound('tenant_not_found', `tenant ${id} not found`);
    return row;
  }
}

/** Parse `k=v,k!=v,k,!k`; errors name the query parameter. */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  const errors: FieldError[] = [];
  const keyRe = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
  const valueRe = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
  for (const raw of text.split(',')) {
    const term = raw.trim();
    const m = /^(!)?([^=!]+)(?:(!=|==|=)(.*))?$/.exec(term);
    if (!m || (m[1] && m[3])) {
      errors.push({ path: '/query/labelSelector', message: `cannot parse "${term}" (use k=v, k!=v, k or !k)` });
      continue;
    }
    const key = m[2]!.trim();
    if (!keyRe.test(key)) {
      errors.push({ path: '/query/labelSelector', message: `"${key}" is not a label key` });
      continue;
    }
    if (m[3]) {
      const value = (m[4] ?? '').trim();
      if (!valueRe.test(value)) {
        errors.push({ path: '/query/labelSelector', message: `"${value}" is not a label value` });
        continue;
      }
      out.push({ key, op: m[3] === '!=' ? 'neq' : 'eq', value });
    } else out.push({ key, op: m[1] ? 'absent' : 'exists' });
  }
  if (errors.length > 0) throw validationError('the label selector is invalid', errors, 'invalid_query');
  return out;
}

export { PHASES };

/** Shape checks of a patch that need no database. */
function checkPatchShape(patch: unknown, options: UpdateOptions): asserts patch is Record<string, unknown> {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw validationError('the patch must be a JSON object', [
      { path: '', message: 'must be an object with "spec" and/or "metadata"' },
    ]);
  }
  const errors: FieldError[] = [];
  for (const key of Object.keys(patch)) {
    if (!UPDATABLE_TOP_LEVEL.has(key))
      errors.push({
        path: `/${key}`,
        message: 'unknown or immutable field (only metadata.labels and spec can change)',
      });
  }
  const metaPatch = (patch as { metadata?: unknown }).metadata;
  if (metaPatch !== undefined) {
    if (typeof metaPatch !== 'object' || metaPatch === null || Array.isArray(metaPatch))
      errors.push({ path: '/metadata', message: 'must be an object' });
    else
      for (const key of Object.keys(metaPatch))
        if (key !== 'labels')
          errors.push({
            path: `/metadata/${key}`,
            message: key === 'id' ? 'is immutable' : 'unknown or immutable field',
          });
  }
  const specPatch = (patch as { spec?: unknown }).spec;
  if (specPatch !== undefined && options.lockedSpecFields && typeof specPatch === 'object' && specPatch !== null) {
    for (const field of options.lockedSpecFields) {
      if (field in specPatch)
        errors.push({ path: `/spec/${field}`, message: 'only a platform role may change this field' });
    }
  }
  if (errors.length > 0) {
    const forbidden = errors.every((e) => e.message.startsWith('only a platform role'));
    throw forbidden
      ? new TenancyError('forbidden_field', 403, 'the patch changes fields your role may not change', { errors })
      : validationError('the patch is invalid', errors);
  }
}

/** Approver roles and recipients from a tenant's stored governance settings. */
export function approvalSettings(spec: TenantSpec): { approverRoles?: string[]; notify?: { email?: string[] } } {
  const a = spec.governance?.approvals;
  return {
    ...(a?.approverRoles ? { approverRoles: a.approverRoles } : {}),
    ...(a?.notify ? { notify: a.notify } : {}),
  };
}
