/**
 * Isolation: tenant-derived identifiers and the resource mappers that make a tenant's
 * isolated resources real. The shared database mapper is here; the strategies that pick
 * mappers per profile, and the other mappers, build on it.
 */
export { maintenanceIdentifier, tenantIdentifier } from './identifiers.js';
export { derivedPrefix, loadInstallation } from './installation.js';
export type { Installation } from './installation.js';
export { roleMark, scramVerifier } from './tenant-role.js';
export type { RoleOwner } from './tenant-role.js';
export { SharedDatabaseMapper } from './shared/shared-database-mapper.js';
export type { ObservedDatabase, RoleIdentity, RoleRequest } from './shared/shared-database-mapper.js';
export { DedicatedDatabaseMapper } from './dedicated/dedicated-database-mapper.js';
export type { ObservedDedicatedDatabase } from './dedicated/dedicated-database-mapper.js';
export {
  isolationContext,
  strategyFor,
  databaseLayout,
  sharedStrategy,
  dedicatedStrategy,
  DEFAULT_STRATEGY_SETTINGS,
} from './strategy.js';
export type {
  IsolationStrategy,
  IsolationContext,
  ResourcePlan,
  DatabasePlacement,
  DatabaseHost,
  StrategySettings,
} from './strategy.js';
export { computePlan } from './compute-plan.js';
export { TenantResources, PREFIX_MARKER } from './tenant-resources.js';
export type { ObservedResources } from './tenant-resources.js';
export { TenantObjects } from './tenant-objects.js';
export type { ObjectQuota } from './tenant-objects.js';
export { PostgresWarehouse, publicDatabaseWarnings } from './warehouse/postgres-warehouse.js';
export type { PostgresWarehouseOptions } from './warehouse/postgres-warehouse.js';
export { PgliteWarehouse } from './warehouse/pglite-warehouse.js';
export { ByocWarehouse, RoutingWarehouse } from './warehouse/byoc-warehouse.js';
export { openWarehouse } from './warehouse/index.js';
export type { WarehouseOptions } from './warehouse/index.js';
export type { Warehouse, TenantSession, DatabaseConnection, ObservedWarehouse } from './warehouse/warehouse.js';
export { loadMigrationSet, compareVersions, sameVersion } from './migrations/migration-set.js';
export type { MigrationSet, AppMigration } from './migrations/migration-set.js';
export { TenantMigrator, TENANT_MIGRATIONS_TABLE, appliedMigrations } from './migrations/tenant-migrator.js';
export type { AppliedMigration, MigrateOutcome } from './migrations/tenant-migrator.js';
export { TenantArchiver, ARCHIVE_BUCKET } from './archive/tenant-archiver.js';
export type { ArchiveManifest } from './archive/tenant-archiver.js';
