/**
 * Retention is over: destroy the tenant's keys (crypto-shredding: what is left of its data
 * cannot be decrypted), drop its documents, policies, lineage records and credentials; the
 * id stays reserved. Approval records stay: they are the governance history.
 */
import { purgeTenantLineage, purgeTenantPolicies } from '../../governance/index.js';
import { purgeTenantCorpora } from '../../retrieval/index.js';
import { purgeTenantDocuments, retentionDays, writeObservedState } from '../../tenants/index.js';
import { CONTROLLER_ACTOR as ACTOR, putCondition, type ReconcileStep, type StatusStepContext } from './step.js';

/** Whether the tenant's data goes now: a delete that keeps nothing, or a deleted tenant past its retention. */
function purgeDue(ctx: StatusStepContext): boolean {
  const { tenant, now } = ctx;
  if (ctx.phase === 'deleting') return retentionDays(ctx.spec) === 0;
  return (
    tenant.purgedAt === null && tenant.purgeAfter !== null && new Date(tenant.purgeAfter).getTime() <= now.getTime()
  );
}

/** Purge a tenant whose retention is over (after `status.deleted`, for a delete that keeps nothing). */
export const purge: ReconcileStep<StatusStepContext> = {
  name: 'purge',
  phases: ['deleting', 'deleted'],
  when: purgeDue,
  async run(ctx) {
    const { trx, id, now, services } = ctx;
    const shredded = await services.keyRing.destroyTenantKeys(id, trx);
    await services.audit.append(trx, ACTOR, {
      action: 'tenant.keys.shred',
      target: `tenant/${id}/keys`,
      tenantId: id,
      outcome: 'success',
      details: { keyIds: shredded },
    });
    const documents = await purgeTenantDocuments(trx, id);
    const lineageRecords = await purgeTenantLineage(trx, id);
    const policyVersions = await purgeTenantPolicies(trx, id);
    const corpora = await purgeTenantCorpora(trx, id);
    const keys = await services.apiKeys.revokeAllIn(trx, id);
    const purged = putCondition(ctx, {
      type: 'Purged',
      status: 'True',
      reason: 'RetentionExpired',
      message: 'tenant data was purged; the id stays reserved',
    });
    await writeObservedState(trx, id, { purgedAt: now, conditions: ctx.conditions });
    await services.audit.recordChange(trx, {
      actor: ACTOR,
      action: 'tenant.purge',
      target: `tenant/${id}`,
      tenantId: id,
      outcome: 'success',
      details: {
        documents,
        policyVersions,
        lineageRecords,
        corpora,
        apiKeysRevoked: keys,
      },
      event: { type: 'tenant.purged', tenantId: id, payload: { id } },
    });
    return purged;
  },
};
