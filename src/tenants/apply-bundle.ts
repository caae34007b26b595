/**
 * Apply a bundle of manifests (a GitOps folder, or a list) all or nothing. The plan is the
 * real apply run inside one transaction; a dry run rolls it back, so the plan shown is
 * exactly what applying would do. Any invalid item or illegal transition applies nothing.
 */
import type { Transaction } from 'kysely';
import { z } from 'zod';
import { TenancyError, toPointer, validationError, type FieldError } from '../errors.js';
import {
  evaluateSovereignty,
  sovereigntyRefusal,
  type Approval,
  type ApprovalKind,
  type SovereigntyViolation,
} from '../governance/index.js';
import type { Actor } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { gatedChanges } from './approval-rules.js';
import type { FieldChange } from './json-diff.js';
import { nextPhase, type Phase } from './lifecycle.js';
import {
  DOCUMENT_KINDS,
  zodFieldErrors,
  tenantManifestSchema,
  type DocumentKind,
  type TenantDocument,
  type TenantManifest,
  type TenantSpec,
} from './manifest-schema.js';
import {
  approvalSettings,
  sovereigntyFacts,
  SOVEREIGNTY_SPEC_PATH,
  TENANT_CHANGE_APPLIER,
  type TenantRegistry,
} from './tenant-registry.js';

/** Most items one bundle may carry. */
export const MAX_BUNDLE_ITEMS = 1_000;

export const bundleSchema = z
  .strictObject({
    dryRun: z.boolean().default(false),
    items: z
      .array(
        z.strictObject({
          source: z.string().min(1).max(1024).optional(),
          manifest: z.unknown(),
        }),
      )
      .min(1, 'a bundle needs at least one item')
      .max(MAX_BUNDLE_ITEMS, `a bundle holds at most ${MAX_BUNDLE_ITEMS} items`),
  })
  .meta({
    id: 'ApplyBundle',
    description: 'Manifests to apply together; `source` is the file path inside a GitOps folder.',
  });

export type Bundle = z.infer<typeof bundleSchema>;

/** What applying did (or would do) to one item. */
export interface PlanItem {
  kind: 'Tenant' | DocumentKind;
  tenant: string;
  name?: string;
  source?: string;
  action: 'create' | 'update' | 'unchanged';
  changes?: FieldChange[];
  /** Kinds of change that wait for an approver (the bundle was stored as an approval, not applied). */
  approvalRequired?: ApprovalKind[];
}

/** The result of an apply. */
export interface ApplyResult {
  dryRun: boolean;
  applied: boolean;
  items: PlanItem[];
  /** The pending approval the bundle waits for, when it needs one. */
  approval?: Approval;
}

/**
 * Commits one kind of document through its own pipeline instead of storing it as a plain
 * folder document (`TenantPolicy` goes through the policy service's four stages).
 * `prepare` runs before the bundle's transaction (it may be slow: the sandbox) and throws
 * a `TenancyError` when the document is refused; `commit` runs inside the transaction.
 */
export interface DocumentCommitter {
  prepare(doc: TenantDocument, tenantSpec: Record<string, unknown> | undefined): Promise<unknown>;
  commit(trx: Transaction<Schema>, actor: Actor, prepared: unknown): Promise<'create' | 'update' | 'unchanged'>;
  /** Called after the bundle committed, with the tenants whose documents it committed. */
  committed?(tenantIds: string[]): void;
}

class DryRunRollback extends Error {}

/** One validated bundle item. */
export type ParsedItem =
  | { index: number; source?: string; tenant: TenantManifest }
  | { index: number; source?: string; document: TenantDocument };

/** Parse and validate every item; throws one 400 listing every problem in the bundle. */
export function parseBundle(input: unknown): { dryRun: boolean; items: ParsedItem[]; bundle: Bundle } {
  const shape = bundleSchema.safeParse(input);
  if (!shape.success) throw validationError('the bundle is invalid', zodFieldErrors(shape.error), 'invalid_bundle');
  const errors: FieldError[] = [];
  const items: ParsedItem[] = [];
  const seen = new Map<string, number>();
  shape.data.items.forEach((item, index) => {
    const prefix = ['items', index, 'manifest'];
    const m = item.manifest as { kind?: unknown } | null;
    const kind = typeof m === 'object' && m !== null ? m.kind : undefined;
    let parsed: ParsedItem | undefined;
    if (kind === 'Tenant') {
      const r = tenantManifestSchema.safeParse(item.manifest);
      if (!r.success) errors.push(...zodFieldErrors(r.error, prefix));
      else parsed = { index, tenant: r.data, ...(item.source ? { source: item.source } : {}) };
    } else if (typeof kind === 'string' && kind in DOCUMENT_KINDS) {
      const r = DOCUMENT_KINDS[kind as DocumentKind].schema.safeParse(item.manifest);
      if (!r.success) errors.push(...zodFieldErrors(r.error, prefix));
      else {
        const doc: TenantDocument = {
          kind: kind as DocumentKind,
          tenant: r.data.metadata.tenant,
          name: r.data.metadata.name ?? 'default',
          spec: r.data.spec as Record<string, unknown>,
        };
        if (item.source) doc.source = item.source;
        parsed = { index, document: doc, ...(item.source ? { source: item.source } : {}) };
      }
    } else {
      errors.push({
        path: `/items/${index}/manifest/kind`,
        message: `must be one of Tenant, ${Object.keys(DOCUMENT_KINDS).join(', ')}`,
      });
    }
    if (!parsed) return;
    const tenantId = 'tenant' in parsed ? parsed.tenant.metadata.id : parsed.document.tenant;
    const idPath = 'tenant' in parsed ? 'metadata/id' : 'metadata/tenant';
    if (item.source) {
      const folder = /(?:^|[\\/])tenants[\\/]([^\\/]+)[\\/]/.exec(item.source)?.[1];
      if (folder !== undefined && folder !== tenantId) {
        errors.push({
          path: `/items/${index}/manifest/${idPath}`,
          message: `tenant id "${tenantId}" disagrees with its folder tenants/${folder}/ (${item.source})`,
        });
      }
    }
    const key =
      'tenant' in parsed ? `Tenant/${tenantId}` : `${parsed.document.kind}/${tenantId}/${parsed.document.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      errors.push({
        path: `/items/${index}/manifest/${idPath}`,
        message: `duplicate ${key} (first at /items/${first})`,
      });
      return;
    }
    seen.set(key, index);
    items.push(parsed);
  });
  if (errors.length > 0)
    throw validationError(
      `the bundle has ${errors.length} invalid field(s); nothing was applied`,
      errors,
      'invalid_bundle',
    );
  return { dryRun: shape.data.dryRun, items, bundle: shape.data };
}

/** Options for {@link applyBundle}. */
export interface ApplyOptions {
  /** The caller's role (recorded on an approval request). */
  role?: string | undefined;
  /** Document kinds committed through their own pipeline (`TenantPolicy`: the policy service). */
  committers?: Partial<Record<DocumentKind, DocumentCommitter>>;
}

class NeedsApproval extends Error {
  constructor(
    readonly gated: Map<string, { kinds: ApprovalKind[]; summary: string; spec: TenantSpec }>,
    readonly base: { generations: Record<string, number>; documents: Record<string, string> },
  ) {
    super('needs approval');
  }
}

/**
 * Apply (or plan) a bundle in one transaction. When the bundle changes something a
 * tenant's governance puts behind an approval, nothing is applied: the whole bundle is
 * stored as one pending approval (`approval` in the result), applied as a unit once approved.
 */
export async function applyBundle(
  registry: TenantRegistry,
  actor: Actor,
  input: unknown,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const { dryRun, items, bundle } = parseBundle(input);
  // Documents with their own pipeline are checked before the transaction; any refusal applies nothing.
  const prepared = new Map<number, unknown>();
  const refusals: TenancyError[] = [];
  const refusedPaths: FieldError[] = [];
  for (const item of items) {
    if (!('document' in item)) continue;
    const committer = options.committers?.[item.document.kind];
    if (!committer) continue;
    const bundled = items.find((i) => 'tenant' in i && i.tenant.metadata.id === item.document.tenant);
    try {
      prepared.set(
        item.index,
        await committer.prepare(
          item.document,
          bundled && 'tenant' in bundled ? (bundled.tenant.spec as Record<string, unknown>) : undefined,
        ),
      );
    } catch (error) {
      if (!(error instanceof TenancyError)) throw error;
      refusals.push(error);
      const base = `/items/${item.index}/manifest/spec`;
      for (const e of error.errors ?? [{ path: '', message: error.detail }])
        refusedPaths.push({
          path: e.path === '/name' ? `/items/${item.index}/manifest/metadata/name` : `${base}${e.path}`,
          message: e.message,
        });
    }
  }
  if (refusals.length > 0) {
    const first = refusals[0]!;
    throw new TenancyError(
      first.code,
      `${refusals.length} document(s) of the bundle were refused (first: ${first.detail}); nothing was applied`,
      { status: first.status, errors: refusedPaths, extensions: first.extensions },
    );
  }
  let outcome: ApplyOutcome | undefined;
  try {
    await registry.db.transaction().execute(async (trx) => {
      outcome = await applyItems(trx, registry, actor, items, { committers: options.committers, prepared });
      if (outcome.gated.size > 0 && !dryRun) throw new NeedsApproval(outcome.gated, outcome.base);
      if (dryRun) throw new DryRunRollback();
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return { dryRun: true, applied: false, items: outcome!.plan };
    if (!(error instanceof NeedsApproval)) throw error;
    const gate = registry.approvals!;
    const [first, ...others] = [...error.gated.entries()];
    if (others.length > 0) {
      throw new TenancyError(
        'approval_split_required',
        `the bundle changes tenants ${[first![0], ...others.map((o) => o[0])].join(', ')} in ways their governance puts behind approvals; apply each of those tenants in its own bundle`,
        {
          errors: [first!, ...others].map(([t, g]) => ({ path: '/items', message: `tenant ${t}: ${g.summary}` })),
        },
      );
    }
    const own = items.filter((i) => 'document' in i && options.committers?.[i.document.kind]);
    if (own.length > 0) {
      // An approved bundle is applied later, inside the approval's transaction, where a
      // document's own pipeline (the policy sandbox) cannot run: keep those apart.
      throw new TenancyError(
        'approval_split_required',
        `the bundle changes tenant ${first![0]} in ways its governance puts behind an approval, and also holds documents committed through their own pipeline (${[...new Set(own.map((i) => ('document' in i ? i.document.kind : '')))].join(', ')}); apply those in a bundle of their own`,
        {
          errors: own.map((i) => ({
            path: `/items/${i.index}`,
            message: 'apply this document in a bundle of its own',
          })),
        },
      );
    }
    const [tenantId, gated] = first!;
    const approval = await registry.db.transaction().execute((trx) =>
      gate.requestApproval(trx, actor, {
        tenantId,
        kind: gated.kinds[0]!,
        kinds: gated.kinds,
        summary: gated.summary,
        payload: { type: 'bundle', bundle: { items: bundle.items } },
        base: error.base,
        applier: TENANT_CHANGE_APPLIER,
        ...approvalSettings(gated.spec),
        ...(options.role ? { requestedRole: options.role } : {}),
      }),
    );
    return { dryRun: false, applied: false, items: outcome!.plan, approval };
  }
  for (const id of outcome!.touched) registry.notify(id);
  const committedTenants = outcome!.committedTenants;
  if (committedTenants.size > 0)
    for (const c of Object.values(options.committers ?? {})) c?.committed?.([...committedTenants]);
  return { dryRun: false, applied: true, items: outcome!.plan };
}

/** What {@link applyItems} did inside its transaction. */
export interface ApplyOutcome {
  plan: PlanItem[];
  touched: Set<string>;
  /** Tenants whose documents a committer (own pipeline) committed. */
  committedTenants: Set<string>;
  /** Tenants whose changes need approval (never filled when `approvalId` is set). */
  gated: Map<string, { kinds: ApprovalKind[]; summary: string; spec: TenantSpec }>;
  /** Generations and document hashes of the existing tenants before the bundle. */
  base: { generations: Record<string, number>; documents: Record<string, string> };
}

/**
 * Apply parsed items inside `trx`: tenants first, then documents, then the data-sovereignty
 * check of every tenant the bundle touched (its final spec against its final documents).
 * With `approvalId` the items are an approved change: nothing is gated again.
 */
export async function applyItems(
  trx: Transaction<Schema>,
  registry: TenantRegistry,
  actor: Actor,
  items: ParsedItem[],
  options: { approvalId?: string; committers?: ApplyOptions['committers']; prepared?: Map<number, unknown> },
): Promise<ApplyOutcome> {
  const plan: PlanItem[] = [];
  const touched = new Set<string>();
  const committedTenants = new Set<string>();
  const errors: FieldError[] = [];
  const extra = options.approvalId ? { approvalId: options.approvalId } : undefined;
  const bundleTenants = new Set(items.flatMap((i) => ('tenant' in i ? [i.tenant.metadata.id] : [])));
  const mentioned = [...new Set(items.map((i) => ('tenant' in i ? i.tenant.metadata.id : i.document.tenant)))];
  const before = await registry.gateStates(trx, mentioned);
  const base: ApplyOutcome['base'] = { generations: {}, documents: {} };
  for (const [id, state] of before) {
    base.generations[id] = state.generation;
    if (state.documents !== undefined) base.documents[id] = state.documents;
  }
  for (const item of items) {
    if (!('tenant' in item)) continue;
    const id = item.tenant.metadata.id;
    try {
      if (!before.has(id)) {
        await registry.insertTenant(trx, actor, item.tenant);
        plan.push({ kind: 'Tenant', tenant: id, action: 'create', ...(item.source ? { source: item.source } : {}) });
        touched.add(id);
      } else {
        const { changes } = await registry.replaceSpec(trx, actor, item.tenant, extra);
        plan.push({
          kind: 'Tenant',
          tenant: id,
          action: changes.length > 0 ? 'update' : 'unchanged',
          ...(changes.length > 0 ? { changes } : {}),
          ...(item.source ? { source: item.source } : {}),
        });
        if (changes.length > 0) touched.add(id);
      }
    } catch (error) {
      if (!(error instanceof TenancyError)) throw error;
      errors.push({ path: `/items/${item.index}`, message: error.detail });
    }
  }
  for (const item of items) {
    if (!('document' in item)) continue;
    const doc = item.document;
    const row = await trx.selectFrom('tenants').select('phase').where('id', '=', doc.tenant).executeTakeFirst();
    if (!row) {
      if (!bundleTenants.has(doc.tenant))
        errors.push({
          path: `/items/${item.index}/manifest/metadata/tenant`,
          message: `tenant ${doc.tenant} does not exist and is not in the bundle`,
        });
      continue;
    }
    try {
      nextPhase('update', row.phase as Phase, doc.tenant);
    } catch (error) {
      if (!(error instanceof TenancyError)) throw error;
      errors.push({ path: `/items/${item.index}`, message: error.detail });
      continue;
    }
    const committer = options.committers?.[doc.kind];
    if (committer && options.prepared?.has(item.index)) {
      const action = await committer.commit(trx, actor, options.prepared.get(item.index));
      plan.push({
        kind: doc.kind,
        tenant: doc.tenant,
        name: doc.name,
        action,
        ...(item.source ? { source: item.source } : {}),
      });
      if (action !== 'unchanged') committedTenants.add(doc.tenant);
      continue;
    }
    const { created, updated } = await registry.putDocuments(trx, actor, doc.tenant, [doc]);
    plan.push({
      kind: doc.kind,
      tenant: doc.tenant,
      name: doc.name,
      action: created > 0 ? 'create' : updated > 0 ? 'update' : 'unchanged',
      ...(item.source ? { source: item.source } : {}),
    });
    if (created + updated > 0) touched.add(doc.tenant);
  }
  if (errors.length > 0) {
    throw new TenancyError(
      'apply_conflict',
      `${errors.length} item(s) cannot be applied in the tenants' current state; nothing was applied`,
      { errors },
    );
  }
  // Data sovereignty: every touched tenant's final spec against its final rules.
  const violations: Array<{ tenant: string; v: SovereigntyViolation }> = [];
  const rulesOf = await registry.sovereigntyRulesOf(trx, [...touched]);
  for (const [id, rules] of rulesOf) {
    const row = await trx.selectFrom('tenants').select('spec').where('id', '=', id).executeTakeFirstOrThrow();
    const spec = row.spec as unknown as TenantSpec;
    const previous = before.get(id);
    const operation = previous && previous.spec.region !== spec.region ? 'move' : 'provision';
    for (const r of rules)
      for (const v of evaluateSovereignty(r, { operation, facts: sovereigntyFacts(spec) }))
        violations.push({ tenant: id, v });
  }
  if (violations.length > 0) {
    const pathOf = (tenant: string, v: SovereigntyViolation): string => {
      const tenantItem = items.find((i) => 'tenant' in i && i.tenant.metadata.id === tenant);
      if (tenantItem) return toPointer(['items', tenantItem.index, 'manifest', ...SOVEREIGNTY_SPEC_PATH[v.field]]);
      const docItem = items.find(
        (i) => 'document' in i && i.document.tenant === tenant && i.document.kind === 'DataSovereignty',
      );
      if (docItem) return `${toPointer(['items', docItem.index, 'manifest'])}${v.rule}`;
      return '/items';
    };
    const refusal = sovereigntyRefusal(
      violations.map((x) => x.v),
      (v) => pathOf(violations.find((x) => x.v === v)!.tenant, v),
      'the bundle',
    );
    throw new TenancyError(refusal.code, `${refusal.detail}; nothing was applied`, {
      status: refusal.status,
      errors: refusal.errors ?? [],
      extensions: refusal.extensions,
    });
  }
  const gated: ApplyOutcome['gated'] = new Map();
  if (registry.approvals && options.approvalId === undefined) {
    const requiring = [...before].filter(
      ([id, state]) => touched.has(id) && (state.spec.governance?.approvals?.require?.length ?? 0) > 0,
    );
    for (const [id, state] of requiring) {
      const after = await trx.selectFrom('tenants').select('spec').where('id', '=', id).executeTakeFirstOrThrow();
      const g = gatedChanges(
        state,
        { spec: after.spec as unknown as TenantSpec, docFlags: await registry.documentFlags(trx, id) },
        id,
      );
      if (g.kinds.length > 0) {
        gated.set(id, { ...g, spec: state.spec });
        for (const p of plan) if (p.tenant === id && p.action !== 'unchanged') p.approvalRequired = g.kinds;
      }
    }
  }
  return { plan, touched, committedTenants, gated, base };
}
