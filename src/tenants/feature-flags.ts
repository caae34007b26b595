/**
 * Feature flags a tenant actually has. Three layers, the later winning: the plan's
 * defaults, the manifest's `spec.features`, the `TenantFeatures` document (`features.yaml`).
 * A layer may give a value or a percentage rollout; a rollout puts a tenant inside when a
 * stable hash of (seed, tenant id) falls below the percentage, so the same tenants stay
 * inside as the percentage grows and every replica and the SDK agree without coordination.
 *
 * Each flag carries an OpenFeature reason: `STATIC` (the plan's value), `TARGETING_MATCH`
 * (a value set for this tenant), `SPLIT` (placed by a rollout: inside, or outside with an
 * explicit `otherwise`), `DEFAULT` (outside a rollout, falling back to the layer below).
 */
import { createHash } from 'node:crypto';
import type { FeatureRollout, FeatureValue } from './manifest-schema.js';

/** How a flag's value came about (OpenFeature's resolution reasons). */
export type FlagReason = 'STATIC' | 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT' | 'DISABLED';

/** One resolved flag, as the tenant context serves it. */
export interface FlagResolution {
  /** Absent when nothing gives the flag a value (the caller's default applies). */
  value?: boolean | string;
  reason: FlagReason;
  /** `plan`, `tenant`, `rollout-in`, `rollout-out`, `default`, or `slo-degraded`. */
  variant: string;
  /** The layer that decided: `plan`, `manifest` or `document`; `slo` when a violated latency SLO switched it off. */
  source: 'plan' | 'manifest' | 'document' | 'slo';
}

type Layer = { source: FlagResolution['source']; flags: Record<string, FeatureValue> };

/** The tenant's bucket for a rollout, 0..9999 (basis points): SHA-256 of `seed:tenantId`. */
export function rolloutBucket(seed: string, tenantId: string): number {
  return createHash('sha256').update(`${seed}:${tenantId}`).digest().readUInt32BE(0) % 10_000;
}

/** Whether the tenant is inside a rollout of `percentage` (0..100, two decimals count). */
export function inRollout(seed: string, tenantId: string, percentage: number): boolean {
  return rolloutBucket(seed, tenantId) < Math.round(percentage * 100);
}

function isRollout(v: FeatureValue): v is FeatureRollout {
  return typeof v === 'object' && v !== null;
}

function resolveAt(tenantId: string, name: string, layers: Layer[], i: number): FlagResolution | undefined {
  for (let j = i; j >= 0; j--) {
    const layer = layers[j]!;
    if (!Object.hasOwn(layer.flags, name)) continue;
    const v = layer.flags[name]!;
    if (!isRollout(v))
      return {
        value: v,
        reason: layer.source === 'plan' ? 'STATIC' : 'TARGETING_MATCH',
        variant: layer.source === 'plan' ? 'plan' : 'tenant',
        source: layer.source,
      };
    const inside = v.value ?? true;
    if (inRollout(v.seed ?? name, tenantId, v.rollout))
      return { value: inside, reason: 'SPLIT', variant: 'rollout-in', source: layer.source };
    if (v.otherwise !== undefined)
      return { value: v.otherwise, reason: 'SPLIT', variant: 'rollout-out', source: layer.source };
    const below = resolveAt(tenantId, name, layers, j - 1);
    if (below?.value !== undefined)
      return { value: below.value, reason: 'DEFAULT', variant: 'default', source: below.source };
    return typeof inside === 'boolean'
      ? { value: false, reason: 'DEFAULT', variant: 'default', source: layer.source }
      : { reason: 'DEFAULT', variant: 'default', source: layer.source };
  }
  return undefined;
}

/** Every flag of the tenant with its value and reason, and the plain values (`features`). */
export function resolveFeatureFlags(
  tenantId: string,
  planFlags: Record<string, FeatureValue>,
  specFlags: Record<string, FeatureValue> = {},
  documentFlags: Record<string, FeatureValue> = {},
): { features: Record<string, boolean | string>; flags: Record<string, FlagResolution> } {
  const layers: Layer[] = [
    { source: 'plan', flags: planFlags },
    { source: 'manifest', flags: specFlags },
    { source: 'document', flags: documentFlags },
  ];
  const names = new Set([...Object.keys(planFlags), ...Object.keys(specFlags), ...Object.keys(documentFlags)]);
  const features: Record<string, boolean | string> = {};
  const flags: Record<string, FlagResolution> = {};
  for (const name of [...names].sort()) {
    const r = resolveAt(tenantId, name, layers, layers.length - 1)!;
    flags[name] = r;
    if (r.value !== undefined) features[name] = r.value;
  }
  return { features, flags };
}
