/**
 * The tenant resource as the API returns it, and its conversion from a stored row.
 */
import type { Selectable } from 'kysely';
import type { Schema } from '../schema.js';
import type { Phase } from './lifecycle.js';
import type { TenantSpec } from './manifest-schema.js';

/** One status condition, Kubernetes style. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** A tenant: desired state (`spec`) and what the controller observed (`status`). */
export interface Tenant {
  apiVersion: 'tenancy/v1';
  kind: 'Tenant';
  metadata: {
    id: string;
    uid: string;
    generation: number;
    createdAt: string;
    updatedAt: string;
    labels: Record<string, string>;
  };
  spec: TenantSpec;
  status: {
    phase: Phase;
    observedGeneration: number;
    conditions: Condition[];
    reason: string | null;
    deletedAt?: string;
    purgeAfter?: string;
    purgedAt?: string;
    /** Where the resources are: differs from spec.profile while a profile change moves the tenant. */
    placement?: { profile: string; movingFrom?: string };
  };
}

export type TenantRow = Selectable<Schema['tenants']>;

/** Build the API object from a row. */
export function tenantFromRow(row: TenantRow): Tenant {
  const status: Tenant['status'] = {
    phase: row.phase as Phase,
    observedGeneration: row.observed_generation,
    conditions: row.conditions as Condition[],
    reason: row.status_reason,
  };
  if (row.deleted_at) status.deletedAt = new Date(row.deleted_at).toISOString();
  if (row.purge_after) status.purgeAfter = new Date(row.purge_after).toISOString();
  if (row.purged_at) status.purgedAt = new Date(row.purged_at).toISOString();
  if (row.placed_profile)
    status.placement = { profile: row.placed_profile, ...(row.moving_from ? { movingFrom: row.moving_from } : {}) };
  return {
    apiVersion: 'tenancy/v1',
    kind: 'Tenant',
    metadata: {
      id: row.id,
      uid: row.uid,
      generation: row.generation,
      createdAt: new Date(row.created_at).toISOString(),
      updatedAt: new Date(row.updated_at).toISOString(),
      labels: row.labels as Record<string, string>,
    },
    spec: row.spec as unknown as TenantSpec,
    status,
  };
}

/** Set or replace a condition, keeping `lastTransitionTime` when its status did not change. */
export function setCondition(
  conditions: Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    existing && existing.status === next.status ? existing.lastTransitionTime : now.toISOString();
  return [...conditions.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}
