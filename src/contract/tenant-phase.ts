/**
 * A tenant's lifecycle phases as both planes see them, and which phases refuse a tenant's
 * credentials (the control plane's API and the SDK's middleware refuse them alike).
 */
import type { ErrorCode } from './error-catalogue.js';

/** Every lifecycle phase, in lifecycle order. */
export const TENANT_PHASES = [
  'provisioning',
  'active',
  'suspended',
  'archiving',
  'archived',
  'deleting',
  'deleted',
  'failed',
] as const;

/** A lifecycle phase of a tenant. */
export type TenantPhase = (typeof TENANT_PHASES)[number];

/** Phases in which a tenant's credentials are refused, with the code they get. */
export function credentialRefusal(phase: TenantPhase): { code: ErrorCode; detail: string } | undefined {
  switch (phase) {
    case 'suspended':
      return { code: 'tenant_suspended', detail: 'the tenant is suspended' };
    case 'archiving':
    case 'archived':
      return { code: 'tenant_archived', detail: 'the tenant is archived' };
    case 'deleting':
    case 'deleted':
      return { code: 'tenant_deleted', detail: 'the tenant is deleted' };
    default:
      return undefined;
  }
}
