/**
 * The isolation module's tables: this installation's identity, tenants' resource credentials,
 * warehouse role marks, archives, and the app migrations applied to tenants' databases.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { Generated } from 'kysely';
import type { Json, Timestamp } from '../infra/sql/column-types.js';

/** `tenant_credentials`: generated resource credentials, encrypted with the tenant's key. */
export interface TenantCredentialsTable {
  tenant_id: string;
  kind: string;
  ciphertext: string;
  updated_at: Timestamp;
}

/** `installation`: this installation's identity (one row). */
export interface InstallationTable {
  singleton: Generated<boolean>;
  installation_id: string;
  /** Prefix of cluster-global names (tenant roles, dedicated databases); null until first decided. */
  warehouse_prefix: string | null;
  created_at: Generated<Timestamp>;
}

/** `warehouse_legacy_roles`: tenants whose roles were made before ownership marks existed. */
export interface WarehouseLegacyRolesTable {
  tenant_id: string;
}

/** `tenant_archives`: tenants' exports in cold storage. */
export interface TenantArchivesTable {
  tenant_id: string;
  id: string;
  state: string;
  location: string;
  job_id: string | null;
  manifest: Json<Record<string, unknown>> | null;
  created_at: Timestamp;
  completed_at: Timestamp | null;
  restored_at: Timestamp | null;
}

/** `tenant_migrations`: app migrations applied to each tenant's database, per environment. */
export interface TenantMigrationsTable {
  tenant_id: string;
  environment: string;
  version: string;
  name: string;
  checksum: string;
  applied_at: Timestamp;
  duration_ms: number;
}

/** The tables isolation owns. */
export interface IsolationTables {
  tenant_credentials: TenantCredentialsTable;
  installation: InstallationTable;
  warehouse_legacy_roles: WarehouseLegacyRolesTable;
  tenant_archives: TenantArchivesTable;
  tenant_migrations: TenantMigrationsTable;
}
