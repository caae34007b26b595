/**
 * The apply of a parsed bundle inside one transaction, which is also its plan: tenants
 * first, then documents, then the data-sovereignty check of every tenant touched, then
 * which changes a tenant's governance puts behind an approval. Any item the tenants' current
 * state refuses applies nothing.
 */
import type { Transaction } from 'kysely';
import { TenancyError, type FieldError } from '../errors.js';
import type { Actor } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { gatedChanges } from './approval-rules.js';
import { riskyChanges, routerModels, type FreezeSnapshot } from './freeze-guard.js';
import { routerDocumentSpec } from './tenant-documents.js';
import type { Committers, ParsedItem, PlanItem } from './bundle-schema.js';
import { assertSovereign, type GatedTenant } from './bundle-refusals.js';
import { nextPhase, type Phase } from './lifecycle.js';
import type { TenantSpec } from './manifest-schema.js';
import type { TenantRegistry } from './tenant-registry.js';

/** What {@link applyItems} did inside its transaction. */
export interface ApplyOutcome {
  plan: PlanItem[];
  touched: Set<string>;
  /** Tenants whose documents a committer (own pipeline) committed. */
  committedTenants: Set<string>;
  /** Tenants whose changes need approval (never filled when `approvalId` is set). */
  gated: Map<string, GatedTenant>;
  /** Generations and document hashes of the existing tenants before the bundle. */
  base: { generations: Record<string, number>; documents: Record<string, string> };
}

/** A tenant's state as the freeze compares it, as seen by `trx`. */
async function freezeSnapshot(
  trx: Transaction<Schema>,
  registry: TenantRegistry,
  id: string,
  spec: TenantSpec,
): Promise<FreezeSnapshot> {
  return {
    spec,
    docFlags: await registry.documentFlags(trx, id),
    routerModels: routerModels(await routerDocumentSpec(trx, id)),
  };
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
  options: {
    approvalId?: string;
    committers?: Committers | undefined;
    prepared?: Map<number, unknown>;
    /** The reason given to change tenants whose error budget is exhausted. */
    freezeOverride?: string | undefined;
  },
): Promise<ApplyOutcome> {
  const plan: PlanItem[] = [];
  const touched = new Set<string>();
  const committedTenants = new Set<string>();
  const errors: FieldError[] = [];
  const extra = options.approvalId ? { approvalId: options.approvalId } : undefined;
  const bundleTenants = new Set(items.flatMap((i) => ('tenant' in i ? [i.tenant.metadata.id] : [])));
  const mentioned = [...new Set(items.map((i) => ('tenant' in i ? i.tenant.metadata.id : i.document.tenant)))];
  const before = await registry.gateStates(trx, mentioned);
  // Frozen tenants (error budget exhausted): their state before, to find the risky changes.
  const freeze = options.approvalId === undefined ? registry.freezeGuard : undefined;
  const frozenBefore = new Map<string, FreezeSnapshot>();
  if (freeze)
    for (const id of mentioned)
      if (before.has(id) && (await freeze.frozen(id, trx)))
        frozenBefore.set(id, await freezeSnapshot(trx, registry, id, before.get(id)!.spec));
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
  await assertSovereign(trx, registry, items, touched, before);
  for (const [id, snapshot] of frozenBefore) {
    const after = await trx.selectFrom('tenants').select('spec').where('id', '=', id).executeTakeFirstOrThrow();
    const kinds = riskyChanges(
      id,
      snapshot,
      await freezeSnapshot(trx, registry, id, after.spec as unknown as TenantSpec),
    );
    if (committedTenants.has(id)) kinds.push('policyChange');
    await freeze!.check(trx, actor, id, kinds, options.freezeOverride);
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
        {
          spec: after.spec as unknown as TenantSpec,
          docFlags: await registry.documentFlags(trx, id),
          routerBudget: await registry.routerBudget(trx, id),
        },
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
