/**
 * The tenant lifecycle state machine: which verb may run in which phase, and where it leads.
 * Transient phases (provisioning, archiving, deleting) are finished by the controller.
 */
import { credentialRefusal, TENANT_PHASES, type TenantPhase } from '../contract/index.js';
import { TenancyError } from '../errors.js';

/** Every lifecycle phase (the contract's list: the SDK knows the same phases). */
export const PHASES = TENANT_PHASES;
/** A lifecycle phase. */
export type Phase = TenantPhase;

export const VERBS = ['update', 'suspend', 'resume', 'archive', 'restore', 'delete'] as const;
export type Verb = (typeof VERBS)[number];

/** For each verb: the phases it may start from, and the phase it moves the tenant to. */
export const TRANSITIONS: Record<Verb, { from: readonly Phase[]; to: Phase | 'same' }> = {
  update: { from: ['provisioning', 'active', 'suspended', 'failed'], to: 'same' },
  suspend: { from: ['active', 'provisioning', 'failed'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'active' },
  archive: { from: ['active', 'suspended', 'failed'], to: 'archiving' },
  restore: { from: ['archived'], to: 'provisioning' },
  delete: { from: ['provisioning', 'active', 'suspended', 'archiving', 'archived', 'failed'], to: 'deleting' },
};

/** The phase a verb leads to from `phase`, or a 409 whose code names the phase that forbids it. */
export function nextPhase(verb: Verb, phase: Phase, tenantId: string): Phase {
  const rule = TRANSITIONS[verb];
  if (!rule.from.includes(phase)) {
    throw new TenancyError(`tenant_${phase}`, `cannot ${verb} tenant ${tenantId}: it is ${phase}`, {
      extensions: { phase, verb, allowedFrom: rule.from },
    });
  }
  return rule.to === 'same' ? phase : rule.to;
}

export { credentialRefusal };
