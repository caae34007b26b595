/**
 * The error-budget freeze as the registry sees it: which changes are risky, and the check a
 * guard (the SLO service) runs on them. While a tenant's error budget is exhausted its risky
 * changes are refused with 409 `error_budget_exhausted`, unless the request carries an
 * override from a role that may give one (checked by the HTTP layer), which is audited.
 *
 * Risky: a profile move, a feature flag switched on (in the spec or a TenantFeatures
 * document), a model router change (its models: primary, fallback, routes, embeddings), a
 * policy commit, a migration wave that includes the tenant.
 */
import type { Transaction } from 'kysely';
import type { Actor } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { readRouterSpec } from '../ai/router-spec.js';
import type { TenantSpec } from './manifest-schema.js';
import type { FlagResolution } from './feature-flags.js';
import { effectiveFeatures } from './plans.js';
import { documentFlags } from './tenant-documents.js';

export type RiskyChange = 'profileMove' | 'featureEnable' | 'routerChange' | 'policyChange' | 'migration';

/** What the registry asks before a change. */
export interface FreezeGuard {
  /**
   * Refuse (409 `error_budget_exhausted`) when the tenant is frozen and `kinds` is not empty,
   * unless `override` (a checked reason) is given; then audit the override inside `trx`.
   */
  check(
    trx: Transaction<Schema> | undefined,
    actor: Actor,
    tenantId: string,
    kinds: readonly RiskyChange[],
    override: string | undefined,
  ): Promise<void>;
  /** The experimental flags switched off for the tenant now (a latency SLO violated); cached. */
  flagsOff(tenantId: string): Promise<readonly string[]>;
  /** Whether the tenant is frozen now (cheap: cached); read in `trx` when one is open. */
  frozen(tenantId: string, trx?: Transaction<Schema>): Promise<boolean>;
}

/** A tenant's state as the freeze compares it. */
export interface FreezeSnapshot {
  spec: TenantSpec;
  docFlags: Record<string, boolean | string>;
  routerModels: string[];
}

/** The models a TenantRouter spec names, sorted. */
export function routerModels(spec: unknown): string[] {
  const r = readRouterSpec(spec);
  if (!r) return [];
  const out = new Set<string>([r.primary.model, ...r.fallback, ...r.routes.map((x) => x.model)]);
  if (r.embeddings) out.add(r.embeddings.model);
  return [...out].sort();
}

/** The risky changes between two states of a tenant (flags compared by their effective value, as approvals do). */
export function riskyChanges(tenantId: string, before: FreezeSnapshot, after: FreezeSnapshot): RiskyChange[] {
  const out: RiskyChange[] = [];
  if (before.spec.profile !== after.spec.profile) out.push('profileMove');
  const b = effectiveFeatures(tenantId, before.spec, before.docFlags).features;
  const a = effectiveFeatures(tenantId, after.spec, after.docFlags).features;
  if (Object.keys(a).some((k) => a[k] === true && b[k] !== true)) out.push('featureEnable');
  if (before.routerModels.join('\u0000') !== after.routerModels.join('\u0000')) out.push('routerChange');
  return out;
}

/** Check a spec change of a tenant (a PATCH) against its freeze: profile moves and feature enables. */
export async function checkSpecFreeze(
  guard: FreezeGuard,
  trx: Transaction<Schema>,
  actor: Actor,
  id: string,
  before: TenantSpec,
  after: TenantSpec,
  override: string | undefined,
): Promise<void> {
  if (!(await guard.frozen(id, trx))) return;
  const flags = await documentFlags(trx, id);
  const kinds = riskyChanges(
    id,
    { spec: before, docFlags: flags, routerModels: [] },
    { spec: after, docFlags: flags, routerModels: [] },
  );
  await guard.check(trx, actor, id, kinds, override);
}

/** Switch off the flags a violated latency SLO holds off (OpenFeature reason `DISABLED`), in place. */
export function applyFlagsOff(
  resolved: { features: Record<string, boolean | string>; flags: Record<string, FlagResolution> },
  off: readonly string[],
): typeof resolved {
  for (const name of off) {
    resolved.features[name] = false;
    resolved.flags[name] = { value: false, reason: 'DISABLED', variant: 'slo-degraded', source: 'slo' };
  }
  return resolved;
}
