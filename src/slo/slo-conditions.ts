/**
 * What the SLO evaluator says on a tenant's status: the conditions `ErrorBudgetExhausted`
 * and `LatencyDegraded`, and the flags a violated latency SLO switches off.
 */
import type { Transaction } from 'kysely';
import type { Schema } from '../schema.js';
import { type Condition, documentsOfKind, setCondition } from '../tenants/index.js';

/** The tenant's conditions with the SLO ones set. */
export function sloConditions(
  conditions: Condition[],
  s: { frozen: boolean; exhausted: string[]; degraded: boolean; latencyBad: string[] },
  now: Date,
): Condition[] {
  const { frozen, exhausted, degraded, latencyBad } = s;
  const updated = setCondition(
    conditions,
    {
      type: 'ErrorBudgetExhausted',
      status: frozen ? 'True' : 'False',
      reason: frozen ? 'BudgetExhausted' : 'WithinBudget',
      message: frozen
        ? `error budget exhausted (${exhausted.join(', ')}): risky changes are refused with error_budget_exhausted`
        : 'every SLO is within its error budget',
    },
    now,
  );
  return setCondition(
    updated,
    {
      type: 'LatencyDegraded',
      status: degraded ? 'True' : 'False',
      reason: degraded ? 'LatencySloViolated' : 'LatencyWithinSlo',
      message: degraded
        ? `latency SLO violated (${latencyBad.join(', ') || 'recovering'})`
        : 'every latency SLO is met',
    },
    now,
  );
}

/** The flags the tenant's TenantFeatures documents mark experimental. */
export async function experimentalFlags(trx: Transaction<Schema>, tenantId: string): Promise<string[]> {
  const docs = await documentsOfKind(trx, 'TenantFeatures', [tenantId]);
  return [...new Set(docs.flatMap((d) => (d.spec as { experimental?: string[] }).experimental ?? []))].sort();
}
