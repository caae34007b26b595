/**
 * The tenant's database, objects and queue, through its isolation strategy: made on
 * provisioning, logins and consumer turned on or off with the phase, exported on archive,
 * removed when retention ends; and, in the status transaction, the record of the phase and
 * generation they were last made right for.
 */
import { isolationContext } from '../../isolation/index.js';
import { PHASES, writeObservedState, type Phase } from '../../tenants/index.js';
import type { ReconcileStep, ResourceStepContext, StatusStepContext } from './step.js';

/** Provisioning: create whatever is missing; a tenant back from an archive had its login and consumer off, it ends active. */
export const ensureResources: ReconcileStep<ResourceStepContext> = {
  name: 'resources.ensure',
  phases: ['provisioning'],
  async run(ctx) {
    await ctx.resources.ensure(ctx.place);
    await ctx.resources.setActive(ctx.place, true);
    return undefined;
  },
};

/** Retention over (or a delete that keeps nothing): remove the tenant's resources. */
export const removeResources: ReconcileStep<ResourceStepContext> = {
  name: 'resources.remove',
  phases: ['deleting', 'deleted'],
  when: (ctx) => ctx.removing,
  async run(ctx) {
    await ctx.resources.remove(ctx.place);
    return undefined;
  },
};

/** Archiving: export the tenant to cold storage, then remove its live copies. */
export const archiveResources: ReconcileStep<ResourceStepContext> = {
  name: 'resources.archive',
  phases: ['archiving'],
  async run(ctx) {
    await ctx.resources.archive(ctx.place);
    return undefined;
  },
};

/** Not serving (suspended, archived, on its way out): the database login and queue consumer are off. */
export const deactivateResources: ReconcileStep<ResourceStepContext> = {
  name: 'resources.deactivate',
  phases: ['suspended', 'archived', 'deleting', 'deleted'],
  when: (ctx) => !ctx.removing,
  async run(ctx) {
    await ctx.resources.setActive(ctx.place, false);
    return undefined;
  },
};

/** Active: the login and consumer of its place under the spec's profile (after any move) are on. */
export const activateResources: ReconcileStep<ResourceStepContext> = {
  name: 'resources.activate',
  phases: ['active'],
  async run(ctx) {
    await ctx.resources.setActive(isolationContext(ctx.id, ctx.spec, ctx.spec.profile), true);
    return undefined;
  },
};

/** The phase each transient phase settles into once its resource steps have run. */
const SETTLED: Partial<Record<Phase, Phase>> = { provisioning: 'active', archiving: 'archived', deleting: 'deleted' };

/**
 * The resource steps just run leave the tenant's resources as its settled phase needs them
 * (provisioning ends active, archiving archived, deleting deleted): record that.
 */
export const recordResources: ReconcileStep<StatusStepContext> = {
  name: 'resources.record',
  phases: PHASES,
  async run(ctx) {
    const settled = SETTLED[ctx.phase] ?? ctx.phase;
    const { resourcesPhase, resourcesGeneration, generation } = ctx.tenant;
    if (resourcesPhase !== settled || resourcesGeneration !== generation)
      await writeObservedState(ctx.trx, ctx.id, { resourcesPhase: settled, resourcesGeneration: generation });
    return undefined;
  },
};
