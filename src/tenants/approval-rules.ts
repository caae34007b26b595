/**
 * Which changes to a tenant need approval: the tenant's stored
 * `spec.governance.approvals.require` names the kinds, and a change is compared before
 * and after (effective features and budgets, so plan defaults count too).
 *
 * - `featureEnable`: an effective flag becomes `true` (spec.features or a TenantFeatures document);
 * - `budgetIncrease`: the effective `quotas.maxCostPerMonthUsd` or `billing.committedSpendUsd` goes up,
 *   or the model router's `budget.monthlyUsd` or `budget.dailyUsd` goes up or is removed;
 * - `profileMove`: `spec.profile` changes;
 * - `policyChange`: `spec.governance` itself changes (so the requirement cannot be lifted unapproved).
 */
import type { ApprovalKind } from '../governance/index.js';
import { jsonEqual } from './json-diff.js';
import type { TenantSpec } from './manifest-schema.js';
import { effectiveFeatures, effectiveQuotas } from './plans.js';

/** A tenant's state as far as approvals care. */
export interface GateState {
  spec: TenantSpec;
  docFlags: Record<string, boolean | string>;
  /** The model router's budget (its TenantRouter document); compared when given on both sides. */
  routerBudget?: RouterBudget;
}

/** A model router's budget limits in USD (undefined: no limit). */
export interface RouterBudget {
  monthlyUsd?: number | undefined;
  dailyUsd?: number | undefined;
}

/** Whether a limit went up: a higher number, or a number removed (no limit). */
function raisedLimit(before: number | undefined, after: number | undefined): boolean {
  return before !== undefined && (after === undefined || after > before);
}

/** Kinds (in order of weight) and a one-line summary of what needs approval; empty when nothing does. */
export function gatedChanges(
  before: GateState,
  after: GateState,
  tenantId = '',
): { kinds: ApprovalKind[]; summary: string } {
  const require = new Set(before.spec.governance?.approvals?.require ?? []);
  const kinds: ApprovalKind[] = [];
  const parts: string[] = [];
  if (require.has('profileMove') && before.spec.profile !== after.spec.profile) {
    kinds.push('profileMove');
    parts.push(`move profile ${before.spec.profile} -> ${after.spec.profile}`);
  }
  if (require.has('budgetIncrease')) {
    const b = effectiveQuotas(before.spec).maxCostPerMonthUsd;
    const a = effectiveQuotas(after.spec).maxCostPerMonthUsd;
    const bc = before.spec.billing?.committedSpendUsd ?? 0;
    const ac = after.spec.billing?.committedSpendUsd ?? 0;
    const raised: string[] = [];
    if (a > b) raised.push(`maxCostPerMonthUsd ${b} -> ${a}`);
    if (ac > bc) raised.push(`committedSpendUsd ${bc} -> ${ac}`);
    if (before.routerBudget && after.routerBudget) {
      for (const k of ['monthlyUsd', 'dailyUsd'] as const)
        if (raisedLimit(before.routerBudget[k], after.routerBudget[k]))
          raised.push(`router budget.${k} ${before.routerBudget[k]} -> ${after.routerBudget[k] ?? 'unlimited'}`);
    }
    if (raised.length > 0) {
      kinds.push('budgetIncrease');
      parts.push(`raise ${raised.join(', ')}`);
    }
  }
  if (require.has('featureEnable')) {
    // Effective values, rollouts included (a rollout's bucket depends on the tenant).
    const b = effectiveFeatures(tenantId, before.spec, before.docFlags).features;
    const a = effectiveFeatures(tenantId, after.spec, after.docFlags).features;
    const enabled = Object.keys(a)
      .filter((k) => a[k] === true && b[k] !== true)
      .sort();
    if (enabled.length > 0) {
      kinds.push('featureEnable');
      parts.push(`enable ${enabled.join(', ')}`);
    }
  }
  if (require.has('policyChange') && !jsonEqual(before.spec.governance ?? null, after.spec.governance ?? null)) {
    kinds.push('policyChange');
    parts.push('change the governance policy');
  }
  return { kinds, summary: parts.join('; ') };
}
