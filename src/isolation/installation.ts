/**
 * This installation's identity on shared database clusters. Roles and databases are global
 * to a PostgreSQL cluster, so two installations on one cluster (or a leftover of an earlier
 * one) must never meet on a name: tenant roles and dedicated databases carry a prefix
 * decided once per installation and stored with it, and every role carries a mark naming
 * the installation (see tenant-role.ts).
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Schema } from '../schema.js';

/** Who this installation is, and the prefix its cluster-global names carry. */
export interface Installation {
  id: string;
  /** Prefix of tenant role and database names on PostgreSQL warehouses. */
  warehousePrefix: string;
}

/** A prefix derived from the installation id: `i` and six characters, e.g. `i3f9a2c_`. */
export function derivedPrefix(installationId: string): string {
  return `i${createHash('sha256').update(installationId).digest('hex').slice(0, 6)}_`;
}

/**
 * Read the installation (the store migration made it), deciding its warehouse prefix on
 * first use: `override` (TENANCY_WAREHOUSE_ROLE_PREFIX) wins and is not stored; otherwise
 * the stored prefix, or a new one derived from the id, stored once for good.
 */
export async function loadInstallation(db: Kysely<Schema>, override: string | undefined): Promise<Installation> {
  const row = await db
    .selectFrom('installation')
    .select(['installation_id', 'warehouse_prefix'])
    .executeTakeFirstOrThrow();
  if (override !== undefined) return { id: row.installation_id, warehousePrefix: override };
  if (row.warehouse_prefix !== null) return { id: row.installation_id, warehousePrefix: row.warehouse_prefix };
  await db
    .updateTable('installation')
    .set({ warehouse_prefix: derivedPrefix(row.installation_id) })
    .where('warehouse_prefix', 'is', null)
    .execute();
  const decided = await db.selectFrom('installation').select('warehouse_prefix').executeTakeFirstOrThrow();
  return { id: row.installation_id, warehousePrefix: decided.warehouse_prefix! };
}
