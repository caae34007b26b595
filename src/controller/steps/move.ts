/**
 * Where the tenant's resources are placed, and profile changes that move them. A move copies
 * the tenant to the new strategy's place and verifies it (its database logins fenced off
 * meanwhile), records the cut-over (placement + the old place to remove) in one
 * transaction, then removes the old place. A crash after the cut-over resumes at the
 * removal; a failure or crash before it leaves the tenant on its old place.
 */
import { isolationContext, type IsolationContext } from '../../isolation/index.js';
import { PHASES, writeObservedState } from '../../tenants/index.js';
import { mergeJobResult } from '../jobs.js';
import {
  CONTROLLER_ACTOR as ACTOR,
  type ReconcileStep,
  type ResourceStepContext,
  type StatusStepContext,
} from './step.js';

/**
 * A move interrupted by a crash: one cut over goes on to remove its old place, whatever
 * happened since; one not yet cut over has its half-made place removed (the move starts
 * afresh if still wanted).
 */
export const resumeMove: ReconcileStep<ResourceStepContext> = {
  name: 'move.resume',
  phases: PHASES,
  when: (ctx) => Boolean(ctx.tenant.movingFrom || ctx.tenant.movingTo),
  async run(ctx) {
    const { id, spec, tenant, resources, services } = ctx;
    if (tenant.movingFrom) await finishMove(ctx, tenant.movingFrom, ctx.place);
    if (tenant.movingTo) {
      await resources.abandonMove(ctx.place, isolationContext(id, spec, tenant.movingTo));
      await writeObservedState(services.db, id, { movingTo: null });
    }
    return undefined;
  },
};

/** An active tenant whose spec names another profile than its place: move it there. */
export const moveToProfile: ReconcileStep<ResourceStepContext> = {
  name: 'move',
  phases: ['active'],
  when: (ctx) => Boolean(ctx.tenant.placedProfile && ctx.tenant.placedProfile !== ctx.spec.profile),
  async run(ctx) {
    const { id, spec, resources, services } = ctx;
    const from = ctx.place;
    const to = isolationContext(id, spec, spec.profile);
    await writeObservedState(services.db, id, { movingTo: to.profile });
    let moved: Awaited<ReturnType<typeof resources.move>>;
    try {
      moved = await resources.move(from, to);
    } catch (error) {
      // move() already put the old place back; nothing is in progress any more.
      await writeObservedState(services.db, id, { movingTo: null });
      throw error;
    }
    await services.db.transaction().execute(async (trx) => {
      await writeObservedState(trx, id, { placedProfile: to.profile, movingFrom: from.profile, movingTo: null });
      await services.audit.recordChange(trx, {
        actor: ACTOR,
        action: 'tenant.move',
        target: `tenant/${id}`,
        tenantId: id,
        outcome: 'success',
        details: { from: from.profile, to: to.profile, rows: moved.rows, objects: moved.objects, jobId: moved.jobId },
        event: {
          type: 'tenant.moved',
          tenantId: id,
          payload: { id, from: from.profile, to: to.profile, jobId: moved.jobId },
        },
      });
    });
    services.registry.notify(id, 'controller');
    await finishMove(ctx, from.profile, to, moved);
    return undefined;
  },
};

/** After the cut-over: remove the old place, and record that (with the fence time on the move's job). */
async function finishMove(
  ctx: ResourceStepContext,
  fromProfile: string,
  to: IsolationContext,
  moved?: { jobId: string; fencedSince: number },
): Promise<void> {
  const { id, spec, services } = ctx;
  await ctx.resources.finishMove(isolationContext(id, spec, fromProfile), to);
  await services.db.transaction().execute(async (trx) => {
    await writeObservedState(trx, id, { movingFrom: null });
    const fenceMs = moved ? Date.now() - moved.fencedSince : null;
    await services.audit.append(trx, ACTOR, {
      action: 'tenant.move.finish',
      target: `tenant/${id}`,
      tenantId: id,
      outcome: 'success',
      details: { from: fromProfile, to: to.profile, fenceMs, oldPlaceRemoved: true },
    });
    if (moved) await mergeJobResult(trx, moved.jobId, { fenceMs });
  });
  services.registry.notify(id, 'controller');
}

/**
 * Provisioning places the tenant under its spec's profile, unless it already has a place: a
 * tenant restored onto the place it was archived from while its spec names another is
 * moved by the next pass.
 */
export const placeTenant: ReconcileStep<StatusStepContext> = {
  name: 'move.place',
  phases: ['provisioning'],
  async run(ctx) {
    const { placedProfile } = ctx.tenant;
    await writeObservedState(ctx.trx, ctx.id, { placedProfile: placedProfile ?? ctx.spec.profile });
    ctx.requeue = placedProfile !== null && placedProfile !== ctx.spec.profile;
    return undefined;
  },
};
