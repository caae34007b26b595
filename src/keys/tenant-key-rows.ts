/**
 * The keys module's table for the other modules: what the controller reads of a tenant's
 * active key (to rotate it when due) and the SQL test the tenants module folds into its
 * "has work" query. The keys module owns `tenant_keys`; nobody else names it.
 */
import { sql, type Expression, type Kysely, type RawBuilder, type SqlBool, type Transaction } from 'kysely';
import type { Schema } from '../schema.js';

/** A tenant's active key version and when it was made, or undefined when it has none (shredded, not yet made). */
export async function activeTenantKey(
  db: Kysely<Schema> | Transaction<Schema>,
  tenantId: string,
): Promise<{ version: number; createdAt: Date } | undefined> {
  const row = await db
    .selectFrom('tenant_keys')
    .select(['version', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .where('state', '=', 'active')
    .executeTakeFirst();
  return row ? { version: row.version, createdAt: new Date(row.created_at) } : undefined;
}

/**
 * SQL that is true when the tenant named by `tenantId` (a column reference of the caller's
 * query) has an active key older than `days`: a subquery, so the caller's query stays one read.
 */
export function activeKeyOlderThan(tenantId: Expression<string>, days: Expression<number>): RawBuilder<SqlBool> {
  return sql<SqlBool>`exists (select 1 from tenant_keys k where k.tenant_id = ${tenantId} and k.state = 'active' and k.created_at + make_interval(days => ${days}) <= now())`;
}
