/**
 * Apply a bundle of manifests (a GitOps folder, or a list) all or nothing. The plan is the
 * real apply run inside one transaction; a dry run rolls it back, so the plan shown is
 * exactly what applying would do. Any invalid item or illegal transition applies nothing.
 * Parsing is in `bundle-schema.ts`, the refusals in `bundle-refusals.ts`, the apply inside
 * the transaction in `apply-items.ts`.
 */
import type { Approval } from '../governance/index.js';
import type { Actor } from '../ledger/index.js';
import { applyItems, type ApplyOutcome } from './apply-items.js';
import { approvalTenant, prepareDocuments } from './bundle-refusals.js';
import { parseBundle, type Committers, type PlanItem } from './bundle-schema.js';
import { approvalSettings, TENANT_CHANGE_APPLIER, type TenantRegistry } from './tenant-registry.js';

/** The result of an apply. */
export interface ApplyResult {
  dryRun: boolean;
  applied: boolean;
  items: PlanItem[];
  /** The pending approval the bundle waits for, when it needs one. */
  approval?: Approval;
}

class DryRunRollback extends Error {}

/** Options for {@link applyBundle}. */
export interface ApplyOptions {
  /** The caller's role (recorded on an approval request). */
  role?: string | undefined;
  /** Document kinds committed through their own pipeline (`TenantPolicy`: the policy service). */
  committers?: Committers;
  /** The reason given to change tenants whose error budget is exhausted (checked by the caller). */
  freezeOverride?: string | undefined;
}

class NeedsApproval extends Error {
  constructor(
    readonly gated: ApplyOutcome['gated'],
    readonly base: ApplyOutcome['base'],
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
  const prepared = await prepareDocuments(items, options.committers);
  let outcome: ApplyOutcome | undefined;
  try {
    await registry.db.transaction().execute(async (trx) => {
      outcome = await applyItems(trx, registry, actor, items, {
        committers: options.committers,
        prepared,
        freezeOverride: options.freezeOverride,
      });
      if (outcome.gated.size > 0 && !dryRun) throw new NeedsApproval(outcome.gated, outcome.base);
      if (dryRun) throw new DryRunRollback();
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return { dryRun: true, applied: false, items: outcome!.plan };
    if (!(error instanceof NeedsApproval)) throw error;
    const gate = registry.approvals!;
    const [tenantId, gated] = approvalTenant(error.gated, items, options.committers);
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
