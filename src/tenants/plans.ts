/**
 * Plan defaults for quotas, features and config. A manifest's own values override them;
 * the table is documented in docs/manifests.md (a test keeps the two in step).
 */
import { resolveFeatureFlags, type FlagResolution } from './feature-flags.js';
import type { FeatureValue, Plan, Quotas, TenantSpec } from './manifest-schema.js';

/** Every quota with a value: what the data plane enforces. */
export type EffectiveQuotas = Required<Quotas>;

/** Defaults a plan gives a tenant. */
export interface PlanDefaults {
  quotas: EffectiveQuotas;
  features: Record<string, boolean | string>;
  retentionDays: number;
  encryption: 'standard' | 'enhanced';
  /** Days between automatic rotations of the tenant's key. */
  keyRotationDays: number;
}

const GiB = 1024 ** 3;

/** The plan table. */
export const PLAN_DEFAULTS: Record<Plan, PlanDefaults> = {
  free: {
    quotas: {
      maxUsers: 5,
      maxProjects: 1,
      maxRequestsPerHour: 1_000,
      maxConcurrentRequests: 5,
      storageLimitBytes: 1 * GiB,
      maxCostPerMonthUsd: 0,
      computeLimitMillicores: 500,
      networkBandwidthMbps: 10,
    },
    features: { sso: false, auditExport: false, customDomains: false, dedicatedSupport: false },
    retentionDays: 7,
    encryption: 'standard',
    keyRotationDays: 365,
  },
  starter: {
    quotas: {
      maxUsers: 25,
      maxProjects: 5,
      maxRequestsPerHour: 10_000,
      maxConcurrentRequests: 20,
      storageLimitBytes: 10 * GiB,
      maxCostPerMonthUsd: 100,
      computeLimitMillicores: 2_000,
      networkBandwidthMbps: 50,
    },
    features: { sso: false, auditExport: true, customDomains: false, dedicatedSupport: false },
    retentionDays: 30,
    encryption: 'standard',
    keyRotationDays: 180,
  },
  pro: {
    quotas: {
      maxUsers: 200,
      maxProjects: 50,
      maxRequestsPerHour: 100_000,
      maxConcurrentRequests: 100,
      storageLimitBytes: 100 * GiB,
      maxCostPerMonthUsd: 1_000,
      computeLimitMillicores: 8_000,
      networkBandwidthMbps: 200,
    },
    features: { sso: true, auditExport: true, customDomains: true, dedicatedSupport: false },
    retentionDays: 90,
    encryption: 'standard',
    keyRotationDays: 90,
  },
  enterprise: {
    quotas: {
      maxUsers: 10_000,
      maxProjects: 1_000,
      maxRequestsPerHour: 1_000_000,
      maxConcurrentRequests: 1_000,
      storageLimitBytes: 1024 * GiB,
      maxCostPerMonthUsd: 20_000,
      computeLimitMillicores: 64_000,
      networkBandwidthMbps: 1_000,
    },
    features: { sso: true, auditExport: true, customDomains: true, dedicatedSupport: true },
    retentionDays: 365,
    encryption: 'enhanced',
    keyRotationDays: 30,
  },
};

/** Quotas the tenant actually gets: plan defaults overridden by the manifest. */
export function effectiveQuotas(spec: Pick<TenantSpec, 'plan' | 'quotas'>): EffectiveQuotas {
  return { ...PLAN_DEFAULTS[spec.plan].quotas, ...stripUndefined(spec.quotas ?? {}) };
}

/**
 * Features the tenant actually has: plan defaults, then `spec.features`, then the features
 * document, with percentage rollouts placed by the tenant id (see feature-flags.ts).
 */
export function effectiveFeatures(
  tenantId: string,
  spec: Pick<TenantSpec, 'plan' | 'features'>,
  documentFlags: Record<string, FeatureValue> = {},
): { features: Record<string, boolean | string>; flags: Record<string, FlagResolution> } {
  return resolveFeatureFlags(tenantId, PLAN_DEFAULTS[spec.plan].features, spec.features ?? {}, documentFlags);
}

/** Days a deleted tenant's data is kept before the controller purges it. */
export function retentionDays(spec: Pick<TenantSpec, 'plan' | 'config'>): number {
  return spec.config?.retentionDays ?? PLAN_DEFAULTS[spec.plan].retentionDays;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Days between automatic key rotations: the manifest's, else the plan's. */
export function keyRotationDays(spec: Pick<TenantSpec, 'plan' | 'config'>): number {
  return spec.config?.keyRotationDays ?? PLAN_DEFAULTS[spec.plan].keyRotationDays;
}
