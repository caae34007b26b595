/**
 * The tenants module's tables: desired and observed state of each tenant, and the GitOps
 * folder's extra documents.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { ColumnType } from 'kysely';
import type { Json, Timestamp } from '../infra/sql/column-types.js';

/** `tenants`: desired state (spec, generation) and observed state (phase, conditions). */
export interface TenantsTable {
  id: string;
  uid: string;
  generation: number;
  spec: Json<Record<string, unknown>>;
  labels: Json<Record<string, string>>;
  plan: string;
  profile: string;
  region: string;
  phase: string;
  observed_generation: number;
  conditions: Json<unknown[]>;
  status_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: Timestamp | null;
  purge_after: Timestamp | null;
  purged_at: Timestamp | null;
  /** The profile the tenant's resources are placed under (null until provisioned). */
  placed_profile: ColumnType<string | null, string | null | undefined, string | null>;
  /** The profile a move left behind, until its resources are removed. */
  moving_from: ColumnType<string | null, string | null | undefined, string | null>;
  /** The profile a move in progress copies to, until its cut-over or its abandonment. */
  moving_to: ColumnType<string | null, string | null | undefined, string | null>;
  /** The phase the controller's resource steps last ran for (null: never). */
  resources_phase: ColumnType<string | null, string | null | undefined, string | null>;
  /** The generation the controller's resource steps last ran for (null: never). */
  resources_generation: ColumnType<number | null, number | null | undefined, number | null>;
}

/** `tenant_documents`: the GitOps folder's extra files (features, router, sovereignty, policies). */
export interface TenantDocumentsTable {
  tenant_id: string;
  kind: string;
  name: string;
  spec: Json<Record<string, unknown>>;
  source: string | null;
  updated_at: Timestamp;
}

/** The tables tenants owns. */
export interface TenantsTables {
  tenants: TenantsTable;
  tenant_documents: TenantDocumentsTable;
}
