/**
 * What a change to a tenant is checked against before it is stored: the shape of a patch
 * (which fields may change, and which the caller's role may not), the facts sovereignty
 * rules judge, and the settings an approval of the change is requested with.
 */
import { TenancyError, validationError, type FieldError } from '../errors.js';
import type { Approval, SovereigntyFacts, SovereigntyViolation } from '../governance/index.js';
import type { FieldChange } from './json-diff.js';
import type { TenantSpec } from './manifest-schema.js';
import { keyRotationDays, PLAN_DEFAULTS } from './plans.js';
import type { Tenant } from './tenant.js';

/** Options for {@link TenantRegistry.update}. */
export interface UpdateOptions {
  /** The generation the caller last saw (from `If-Match`); mismatch is 412. */
  expectedGeneration?: number | undefined;
  /** Spec fields the caller may not change (tenant roles cannot change plan, quotas…). */
  lockedSpecFields?: readonly string[] | undefined;
  /** The caller's role (recorded on an approval request). */
  role?: string | undefined;
  /** Set when an approved approval applies this change: it is not gated again. */
  approvalId?: string | undefined;
  /** The reason given to change a tenant whose error budget is exhausted (the caller may give one). */
  freezeOverride?: string | undefined;
}

/** The result of an update: the change applied, or (with `approval`) waiting for an approver. */
export interface UpdateResult {
  tenant: Tenant;
  changes: FieldChange[];
  approval?: Approval;
}

/** The applier name tenant changes are stored under in the approval gate. */
export const TENANT_CHANGE_APPLIER = 'tenant.change';

/** Where a violated sovereignty fact sits in a tenant manifest. */
export const SOVEREIGNTY_SPEC_PATH: Record<SovereigntyViolation['field'], string[]> = {
  region: ['spec', 'region'],
  profile: ['spec', 'profile'],
  encryption: ['spec', 'config', 'encryption'],
  keyRotationDays: ['spec', 'config', 'keyRotationDays'],
  atRest: ['spec', 'config', 'encryption'],
  url: ['spec', 'byoc'],
  createdAt: ['metadata', 'createdAt'],
};

/** The facts sovereignty rules are checked against, from a spec. */
export function sovereigntyFacts(spec: TenantSpec): SovereigntyFacts {
  return {
    region: spec.region,
    profile: spec.profile,
    encryption: spec.config?.encryption ?? PLAN_DEFAULTS[spec.plan].encryption,
    keyRotationDays: keyRotationDays(spec),
  };
}

const UPDATABLE_TOP_LEVEL = new Set(['metadata', 'spec']);

/** Shape checks of a patch that need no database. */
export function checkPatchShape(patch: unknown, options: UpdateOptions): asserts patch is Record<string, unknown> {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw validationError('the patch must be a JSON object', [
      { path: '', message: 'must be an object with "spec" and/or "metadata"' },
    ]);
  }
  const errors: FieldError[] = [];
  for (const key of Object.keys(patch)) {
    if (!UPDATABLE_TOP_LEVEL.has(key))
      errors.push({
        path: `/${key}`,
        message: 'unknown or immutable field (only metadata.labels and spec can change)',
      });
  }
  const metaPatch = (patch as { metadata?: unknown }).metadata;
  if (metaPatch !== undefined) {
    if (typeof metaPatch !== 'object' || metaPatch === null || Array.isArray(metaPatch))
      errors.push({ path: '/metadata', message: 'must be an object' });
    else
      for (const key of Object.keys(metaPatch))
        if (key !== 'labels')
          errors.push({
            path: `/metadata/${key}`,
            message: key === 'id' ? 'is immutable' : 'unknown or immutable field',
          });
  }
  const specPatch = (patch as { spec?: unknown }).spec;
  if (specPatch !== undefined && options.lockedSpecFields && typeof specPatch === 'object' && specPatch !== null) {
    for (const field of options.lockedSpecFields) {
      if (field in specPatch)
        errors.push({ path: `/spec/${field}`, message: 'only a platform role may change this field' });
    }
  }
  if (errors.length > 0) {
    const forbidden = errors.every((e) => e.message.startsWith('only a platform role'));
    throw forbidden
      ? new TenancyError('forbidden_field', 'the patch changes fields your role may not change', { errors })
      : validationError('the patch is invalid', errors);
  }
}

/** Approver roles and recipients from a tenant's stored governance settings. */
export function approvalSettings(spec: TenantSpec): { approverRoles?: string[]; notify?: { email?: string[] } } {
  const a = spec.governance?.approvals;
  return {
    ...(a?.approverRoles ? { approverRoles: a.approverRoles } : {}),
    ...(a?.notify ? { notify: a.notify } : {}),
  };
}
