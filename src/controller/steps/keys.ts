/**
 * The tenant's key ring: its first key on provisioning, and a new version when the active
 * one is older than the tenant's rotation period (manifest `config.keyRotationDays`, else
 * the plan default). Both run in the status transaction.
 */
import { activeTenantKey } from '../../keys/index.js';
import { keyRotationDays } from '../../tenants/index.js';
import { CONTROLLER_ACTOR as ACTOR, type ReconcileStep, type StatusStepContext } from './step.js';

/** Provisioning: the tenant has a key (kept when it already has one). */
export const ensureKey: ReconcileStep<StatusStepContext> = {
  name: 'keys.ensure',
  phases: ['provisioning'],
  async run(ctx) {
    await ctx.services.keyRing.ensureTenantKey(ctx.id, ctx.trx);
    return undefined;
  },
};

/** Rotate the tenant's key when its active version is older than the rotation period. */
export const rotateKey: ReconcileStep<StatusStepContext> = {
  name: 'keys.rotate',
  phases: ['active', 'suspended'],
  async run(ctx) {
    const { trx, id, now, services } = ctx;
    const active = await activeTenantKey(trx, id);
    if (!active) return undefined;
    const days = keyRotationDays(ctx.spec);
    if (active.createdAt.getTime() + days * 86_400_000 > now.getTime()) return undefined;
    const version = await services.keyRing.rotate(id, trx);
    await services.audit.recordChange(trx, {
      actor: ACTOR,
      action: 'tenant.keys.rotate',
      target: `tenant/${id}/keys`,
      tenantId: id,
      outcome: 'success',
      details: { version, scheduled: true, keyRotationDays: days },
      event: { type: 'tenant.key_rotated', tenantId: id, payload: { id, version } },
    });
    return undefined;
  },
};
