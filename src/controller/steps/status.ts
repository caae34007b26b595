/**
 * The tenant's phase and `Ready` condition: a transient phase ends in its settled one
 * (provisioning -> active, archiving -> archived, deleting -> deleted) with its audit record
 * and event; a settled phase records the generation it observed.
 */
import { retentionDays, writeObservedState, type Condition, type Phase } from '../../tenants/index.js';
import { CONTROLLER_ACTOR as ACTOR, putCondition, type ReconcileStep, type StatusStepContext } from './step.js';

/** Write the phase change with the context's conditions, and its audit record and event. */
async function setPhase(
  ctx: StatusStepContext,
  to: Phase,
  action: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  const { trx, id, phase: from } = ctx;
  await writeObservedState(trx, id, {
    phase: to,
    observedGeneration: ctx.tenant.generation,
    conditions: ctx.conditions,
    updatedAt: new Date(),
  });
  await ctx.services.audit.recordChange(trx, {
    actor: ACTOR,
    action,
    target: `tenant/${id}`,
    tenantId: id,
    outcome: 'success',
    details: { from, to, ...details },
    event: { type: action, tenantId: id, payload: { id, from, to, ...details } },
  });
}

/** Provisioning is done: the tenant is active and ready (a `Degraded` left by a failed step is cleared). */
export const provisioned: ReconcileStep<StatusStepContext> = {
  name: 'status.provisioned',
  phases: ['provisioning'],
  async run(ctx) {
    const ready = putCondition(
      ctx,
      { type: 'Ready', status: 'True', reason: 'Provisioned', message: 'the tenant is ready' },
      ctx.conditions.filter((c) => c.type !== 'Degraded'),
    );
    await setPhase(ctx, 'active', 'tenant.provisioned');
    return ready;
  },
};

/** Archiving is done: the tenant is archived. */
export const archived: ReconcileStep<StatusStepContext> = {
  name: 'status.archived',
  phases: ['archiving'],
  async run(ctx) {
    const ready = putCondition(ctx, {
      type: 'Ready',
      status: 'False',
      reason: 'Archived',
      message: 'the tenant is archived',
    });
    await setPhase(ctx, 'archived', 'tenant.archived');
    return ready;
  },
};

/** Deleting is done: the tenant is deleted, and its data kept until its retention ends. */
export const deleted: ReconcileStep<StatusStepContext> = {
  name: 'status.deleted',
  phases: ['deleting'],
  async run(ctx) {
    const { trx, id, now } = ctx;
    const days = retentionDays(ctx.spec);
    const purgeAfter = new Date(now.getTime() + days * 86_400_000);
    await writeObservedState(trx, id, { deletedAt: now, purgeAfter });
    const ready = putCondition(ctx, {
      type: 'Ready',
      status: 'False',
      reason: 'Deleted',
      message: `data is kept until ${purgeAfter.toISOString()} (${days} days), then purged`,
    });
    await setPhase(ctx, 'deleted', 'tenant.deleted', { purgeAfter: purgeAfter.toISOString() });
    return ready;
  },
};

/** A settled phase with a generation not yet observed: record it, with `Ready` saying what it means now. */
export const observed: ReconcileStep<StatusStepContext> = {
  name: 'status.observed',
  phases: ['active', 'suspended', 'archived', 'failed'],
  when: (ctx) => ctx.tenant.generation !== ctx.tenant.observedGeneration,
  async run(ctx) {
    const { trx, id, phase, services } = ctx;
    const { generation } = ctx.tenant;
    const next: Omit<Condition, 'lastTransitionTime'> =
      phase === 'active'
        ? { type: 'Ready', status: 'True', reason: 'Reconciled', message: `generation ${generation} is in effect` }
        : {
            type: 'Ready',
            status: 'False',
            reason: phase === 'suspended' ? 'Suspended' : 'Failed',
            message: `generation ${generation} observed while ${phase}`,
          };
    const ready = putCondition(
      ctx,
      next,
      ctx.conditions.filter((c) => c.type !== 'Degraded'),
    );
    await writeObservedState(trx, id, { observedGeneration: generation, conditions: ctx.conditions });
    await services.audit.recordChange(trx, {
      actor: ACTOR,
      action: 'tenant.reconcile',
      target: `tenant/${id}`,
      tenantId: id,
      outcome: 'success',
      details: { observedGeneration: generation },
      event: { type: 'tenant.reconciled', tenantId: id, payload: { id, observedGeneration: generation } },
    });
    return ready;
  },
};
