/**
 * Warehouse port: tenants' databases on PostgreSQL (`TENANCY_WAREHOUSE_URL`) or on embedded
 * PGlite (the default), with tenants that bring their own database (st-byoc) routed to it;
 * picked from configuration in {@link openWarehouse}.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../../schema.js';
import type { KeyRing, SecretStore } from '../../keys/index.js';
import { loadInstallation, type Installation } from '../installation.js';
import { ByocWarehouse, RoutingWarehouse } from './byoc-warehouse.js';
import { PgliteWarehouse } from './pglite-warehouse.js';
import { PostgresWarehouse } from './postgres-warehouse.js';
import type { Warehouse } from './warehouse.js';

/** What {@link openWarehouse} needs to know. */
export interface WarehouseOptions {
  /** The PostgreSQL warehouse; embedded PGlite when unset. */
  warehouseUrl?: string | undefined;
  /** The control plane's store (credentials, installation, tenants). */
  store: Kysely<Schema>;
  /** The store's URL when it is on PostgreSQL: the warehouse must be another database. */
  storeUrl?: string | undefined;
  keyRing: KeyRing;
  /** Where st-byoc tenants keep their database URL. */
  secrets: SecretStore;
  /** The embedded engine's directory; undefined keeps its instances in memory (tests). */
  dataDir: string | undefined;
  /** Prefix of tenants' roles and places (configured, or derived for PostgreSQL from the installation). */
  rolePrefix?: string | undefined;
  tenantStatementTimeoutMs: number;
  /** Let st-byoc URLs point at loopback, private or link-local addresses. */
  byocAllowPrivate: boolean;
}

/**
 * The warehouse for this configuration, st-byoc tenants routed to their own databases;
 * `installation` is set on PostgreSQL (who this control plane is on a shared cluster).
 */
export async function openWarehouse(
  options: WarehouseOptions,
): Promise<{ warehouse: Warehouse; installation: Installation | undefined }> {
  const installation = options.warehouseUrl ? await loadInstallation(options.store, options.rolePrefix) : undefined;
  const platform: Warehouse =
    options.warehouseUrl && installation
      ? new PostgresWarehouse(options.store, options.keyRing, options.warehouseUrl, {
          installation,
          tenantStatementTimeoutMs: options.tenantStatementTimeoutMs,
          ...(options.storeUrl ? { storeUrl: options.storeUrl } : {}),
        })
      : new PgliteWarehouse(options.dataDir, options.rolePrefix ?? '');
  const warehouse = new RoutingWarehouse(
    platform,
    new ByocWarehouse(options.secrets, { allowPrivate: options.byocAllowPrivate }),
  );
  return { warehouse, installation };
}
