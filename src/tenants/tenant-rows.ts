/**
 * The tenants module's tables for the other modules: reads of `tenants`, and the purge of a
 * tenant's documents. The tenants module owns the table:
 * other modules ask these functions (inside their own transaction when they pass one)
 * instead of querying it, so its columns can change in one place.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../schema.js';
import type { Phase } from './lifecycle.js';
import type { TenantSpec } from './manifest-schema.js';

type Db = Kysely<Schema> | Transaction<Schema>;

/** A tenant as other modules see it. */
export interface TenantFacts {
  id: string;
  uid: string;
  phase: Phase;
  plan: string;
  spec: TenantSpec;
  /** Where its resources are (a profile), when it differs from or precedes the spec's. */
  placedProfile: string | null;
}

const facts = (r: {
  id: string;
  uid: string;
  phase: string;
  plan: string;
  spec: unknown;
  placed_profile: string | null;
}): TenantFacts => ({
  id: r.id,
  uid: r.uid,
  phase: r.phase as Phase,
  plan: r.plan,
  spec: r.spec as TenantSpec,
  placedProfile: r.placed_profile,
});

/** One tenant, or undefined; `lock` takes its row for the rest of the transaction. */
export async function tenantFacts(
  db: Db,
  id: string,
  options: { lock?: boolean } = {},
): Promise<TenantFacts | undefined> {
  let q = db
    .selectFrom('tenants')
    .select(['id', 'uid', 'phase', 'plan', 'spec', 'placed_profile'])
    .where('id', '=', id);
  if (options.lock) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? facts(row) : undefined;
}

/** Tenants by id and/or phase, ordered by id. */
export async function tenantsWhere(db: Db, filter: { ids?: string[]; phases?: Phase[] }): Promise<TenantFacts[]> {
  let q = db.selectFrom('tenants').select(['id', 'uid', 'phase', 'plan', 'spec', 'placed_profile']);
  if (filter.ids) q = q.where('id', 'in', filter.ids.length ? filter.ids : ['']);
  if (filter.phases) q = q.where('phase', 'in', filter.phases.length ? filter.phases : ['']);
  return (await q.orderBy('id').execute()).map(facts);
}

/**
 * The ids of the tenants in (or not in) the given phases, as a subquery another module's query
 * uses (`where tenant_id in (...)`): one read, and the tenants table named only here.
 */
export function tenantIdsWhere(db: Db, filter: { phases?: readonly Phase[]; notPhases?: readonly Phase[] }) {
  let q = db.selectFrom('tenants').select('id');
  if (filter.phases) q = q.where('phase', 'in', filter.phases.length ? [...filter.phases] : ['']);
  if (filter.notPhases?.length) q = q.where('phase', 'not in', [...filter.notPhases]);
  return q;
}

/** The ids of the tenants that are not being deleted or gone, as a subquery (see {@link tenantIdsWhere}). */
export function liveTenantIds(db: Db) {
  return tenantIdsWhere(db, { notPhases: ['deleting', 'deleted'] });
}

/** Delete a tenant's documents (its purge), inside the caller's transaction; how many. */
export async function purgeTenantDocuments(trx: Transaction<Schema>, tenantId: string): Promise<number> {
  const r = await trx.deleteFrom('tenant_documents').where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r.numDeletedRows);
}
