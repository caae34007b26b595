/**
 * Tenants: the manifest schema, plan defaults, the lifecycle state machine, and the
 * registry that stores desired state (with its audit record and event in the same
 * transaction), putting changes the tenant's governance names behind approvals and
 * refusing what its data-sovereignty rules forbid. The module owns the `tenants` table: other
 * modules, the controller included (its reconcile reads and observed-state writes), read and
 * write tenants through this file only.
 */
export { TenantRegistry } from './tenant-registry.js';
export type { TenantContext } from './tenant-registry.js';
export { parseLabelSelector } from './tenant-listing.js';
export type { TenantListFilter, LabelRequirement } from './tenant-listing.js';
export { sovereigntyFacts, TENANT_CHANGE_APPLIER, SOVEREIGNTY_SPEC_PATH } from './tenant-change-rules.js';
export type { UpdateOptions, UpdateResult } from './tenant-change-rules.js';
export { applyBundle } from './apply-bundle.js';
export type { ApplyResult, ApplyOptions } from './apply-bundle.js';
export { parseBundle, bundleSchema, MAX_BUNDLE_ITEMS } from './bundle-schema.js';
export type { PlanItem, DocumentCommitter } from './bundle-schema.js';
export { registerTenantApprovals } from './tenant-approvals.js';
export { gatedChanges } from './approval-rules.js';
export type { GateState } from './approval-rules.js';
export { tenantFromRow, setCondition } from './tenant.js';
export type { Tenant, Condition } from './tenant.js';
export { PHASES, VERBS, TRANSITIONS, nextPhase, credentialRefusal } from './lifecycle.js';
export type { Phase, Verb } from './lifecycle.js';
export {
  tenantManifestSchema,
  tenantSpecSchema,
  tenantIdSchema,
  quotasSchema,
  parseOrThrow,
  zodFieldErrors,
  PLANS,
  PROFILES,
  TENANT_ID_PATTERN,
  DOCUMENT_KINDS,
} from './manifest-schema.js';
export type { TenantManifest, TenantSpec, TenantDocument, Plan, Profile } from './manifest-schema.js';
export type { EffectiveQuotas, PlanDefaults } from './plans.js';
export { PLAN_DEFAULTS, effectiveQuotas, effectiveFeatures, retentionDays, keyRotationDays } from './plans.js';
export { resolveFeatureFlags, rolloutBucket, inRollout } from './feature-flags.js';
export type { FlagResolution, FlagReason } from './feature-flags.js';
export { readManifestPath } from './manifest-files.js';
export {
  MAX_YAML_ALIASES,
  MAX_YAML_ALIAS_EXPANSION,
  MAX_YAML_DEPTH,
  MAX_YAML_DOCUMENTS,
  parseManifestText,
} from './manifest-text.js';
export type { ManifestFileItem } from './manifest-files.js';
export { mergePatch, diff, jsonEqual } from './json-diff.js';
export type { FieldChange } from './json-diff.js';
export { liveTenantIds, tenantFacts, tenantIdsWhere, tenantsWhere } from './tenant-rows.js';
export type { TenantFacts } from './tenant-rows.js';
export { purgeTenantDocuments } from './tenant-rows.js';
export { documentsOfKind } from './tenant-documents.js';
export { reconcileState, tenantConditions, tenantIdsWithWork, writeObservedState } from './reconcile-rows.js';
export type { ObservedStatePatch, ReconcileState } from './reconcile-rows.js';
export { riskyChanges, routerModels } from './freeze-guard.js';
export type { FreezeGuard, RiskyChange, FreezeSnapshot } from './freeze-guard.js';
