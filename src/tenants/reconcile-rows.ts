/**
 * The `tenants` table as the controller sees it: which tenants have work, the state a
 * reconcile reads (and locks), and the observed-state columns it writes (phase, conditions,
 * placement, deletion and purge times). The controller calls these, inside its own
 * transaction when it passes one, instead of querying the table.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool, type Updateable } from 'kysely';
import { json } from '../infra/sql/index.js';
import { activeKeyOlderThan } from '../keys/index.js';
import type { Schema } from '../schema.js';
import type { Phase } from './lifecycle.js';
import type { TenantSpec } from './manifest-schema.js';
import { PLAN_DEFAULTS } from './plans.js';
import type { Condition } from './tenant.js';

/** A tenant's key rotation period in SQL: the manifest's `config.keyRotationDays`, else the plan default. */
const ROTATION_DAYS_SQL = sql<number>`coalesce((tenants.spec->'config'->>'keyRotationDays')::int, case tenants.plan ${sql.join(
  Object.entries(PLAN_DEFAULTS).map(([plan, d]) => sql`when ${plan} then ${d.keyRotationDays}::int`),
  sql` `,
)} end)`;

/**
 * Whether a tenant has anything for the controller to do: an unobserved generation, a
 * transient phase, a move in progress, a purge or a key rotation due, or resource steps
 * not yet carried out for its current phase and generation.
 */
function hasWork(eb: ExpressionBuilder<Schema, 'tenants'>): Expression<SqlBool> {
  return eb.or([
    eb('generation', '<>', eb.ref('observed_generation')),
    eb('phase', 'in', ['provisioning', 'archiving', 'deleting']),
    eb('moving_to', 'is not', null),
    eb('moving_from', 'is not', null),
    // A profile change that an archive overtook: restored onto its old place, it moves now.
    eb.and([
      eb('phase', '=', 'active'),
      sql<boolean>`tenants.placed_profile is not null and tenants.placed_profile <> tenants.spec->>'profile'`,
    ]),
    sql<boolean>`tenants.resources_phase is distinct from tenants.phase`,
    sql<boolean>`tenants.resources_generation is distinct from tenants.generation`,
    eb.and([eb('phase', '=', 'deleted'), eb('purged_at', 'is', null), eb('purge_after', '<=', new Date())]),
    eb.and([
      eb('phase', 'in', ['active', 'suspended']),
      activeKeyOlderThan(sql.ref<string>('tenants.id'), ROTATION_DAYS_SQL),
    ]),
  ]);
}

/**
 * The ids of the tenants that have work for the controller (see `hasWork`): all of them,
 * or those of `ids` (one read for a batch, or one tenant).
 */
export async function tenantIdsWithWork(db: Kysely<Schema>, ids?: readonly string[]): Promise<string[]> {
  let q = db.selectFrom('tenants').select('id');
  if (ids) q = ids.length === 1 ? q.where('id', '=', ids[0]!) : q.where('id', 'in', [...ids]);
  return (await q.where(hasWork).execute()).map((r) => r.id);
}

/** What a reconcile reads of one tenant: desired state, observed state and placement. */
export interface ReconcileState {
  id: string;
  phase: Phase;
  generation: number;
  observedGeneration: number;
  spec: TenantSpec;
  conditions: Condition[];
  /** The profile the resources are placed under (null until provisioned). */
  placedProfile: string | null;
  /** The profile a cut-over move left behind, until its resources are removed. */
  movingFrom: string | null;
  /** The profile a move in progress copies to, until its cut-over or abandonment. */
  movingTo: string | null;
  /** The phase and generation the resource steps last ran for (null: never). */
  resourcesPhase: string | null;
  resourcesGeneration: number | null;
  purgeAfter: Date | string | null;
  purgedAt: Date | string | null;
}

/** One tenant's reconcile state, or undefined; `lock` takes its row for the rest of the transaction. */
export async function reconcileState(
  db: Kysely<Schema>,
  id: string,
  options: { lock?: boolean } = {},
): Promise<ReconcileState | undefined> {
  let q = db.selectFrom('tenants').selectAll().where('id', '=', id);
  if (options.lock) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    phase: row.phase as Phase,
    generation: row.generation,
    observedGeneration: row.observed_generation,
    spec: row.spec as unknown as TenantSpec,
    conditions: row.conditions as Condition[],
    placedProfile: row.placed_profile,
    movingFrom: row.moving_from,
    movingTo: row.moving_to,
    resourcesPhase: row.resources_phase,
    resourcesGeneration: row.resources_generation,
    purgeAfter: row.purge_after,
    purgedAt: row.purged_at,
  };
}

/** A tenant's conditions, or undefined; `lock` takes its row for the rest of the transaction. */
export async function tenantConditions(
  db: Kysely<Schema>,
  id: string,
  options: { lock?: boolean } = {},
): Promise<Condition[] | undefined> {
  let q = db.selectFrom('tenants').select('conditions').where('id', '=', id);
  if (options.lock) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? (row.conditions as Condition[]) : undefined;
}

/** The observed-state columns the controller writes; a field left out is left as it is. */
export interface ObservedStatePatch {
  phase?: Phase;
  observedGeneration?: number;
  conditions?: Condition[];
  /** The time of the change (the resource's `updatedAt`). */
  updatedAt?: Date;
  deletedAt?: Date;
  purgeAfter?: Date;
  purgedAt?: Date;
  placedProfile?: string | null;
  movingFrom?: string | null;
  movingTo?: string | null;
  resourcesPhase?: string;
  resourcesGeneration?: number;
}

/** Write observed state of one tenant, in one statement (inside the caller's transaction when it passes one). */
export async function writeObservedState(db: Kysely<Schema>, id: string, patch: ObservedStatePatch): Promise<void> {
  const iso = (d: Date | undefined) => d?.toISOString();
  const columns = {
    phase: patch.phase,
    observed_generation: patch.observedGeneration,
    conditions: patch.conditions === undefined ? undefined : json(patch.conditions),
    updated_at: iso(patch.updatedAt),
    deleted_at: iso(patch.deletedAt),
    purge_after: iso(patch.purgeAfter),
    purged_at: iso(patch.purgedAt),
    placed_profile: patch.placedProfile,
    moving_from: patch.movingFrom,
    moving_to: patch.movingTo,
    resources_phase: patch.resourcesPhase,
    resources_generation: patch.resourcesGeneration,
  };
  const set = Object.fromEntries(Object.entries(columns).filter(([, v]) => v !== undefined)) as Updateable<
    Schema['tenants']
  >;
  await db.updateTable('tenants').set(set).where('id', '=', id).execute();
}
