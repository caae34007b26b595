/**
 * Policy storage: the rows of `policy_heads` (one per policy: its latest and stable
 * versions and any canary rollout) and `policy_versions` (immutable, one per commit), how
 * the API shows them, the tenant checks every write makes, and the tenant purge.
 */
import { sql, type Kysely, type Selectable, type Transaction, type Updateable } from 'kysely';
import { conflict, notFound } from '../../errors.js';
import type { Schema } from '../../schema.js';
import { tenantFacts } from '../../tenants/tenant-rows.js';

/** A committed version. */
export interface PolicyVersionInfo {
  tenantId: string;
  name: string;
  domainId: string;
  usecaseId: string;
  version: number;
  semver: string;
  digest: string;
  keyId: string;
  approvalStatus: ApprovalStatus;
  approvalRef: string | null;
  source: string | null;
  committedAt: string;
  committedBy: string;
  /** The policy document as signed, with its `originSignature`. */
  document: Record<string, unknown>;
}

/** Whether a version needed approval and had it. */
export type ApprovalStatus = 'not_required' | 'approved';

/** A canary rollout in progress. */
export interface RolloutInfo {
  id: string;
  version: number;
  by: 'traffic' | 'tenant';
  steps: number[];
  step: number;
  percent: number;
  startedAt: string;
}

/** A policy: where it lives, its versions and what serves now. */
export interface PolicyInfo {
  tenantId: string;
  name: string;
  domainId: string;
  usecaseId: string;
  latestVersion: number;
  stableVersion: number;
  stableSemver: string;
  rollout: RolloutInfo | null;
  updatedAt: string;
}

/** Default canary steps (percent). */
export const DEFAULT_ROLLOUT_STEPS = [10, 50, 100];

/** A `policy_heads` row. */
export type HeadRow = Selectable<Schema['policy_heads']>;
/** A `policy_versions` row. */
export type VersionRow = Selectable<Schema['policy_versions']>;
/** The connection or a transaction. */
export type Db = Kysely<Schema> | Transaction<Schema>;

/** A timestamp as the API shows it. */
export const iso = (d: Date | string): string => new Date(d).toISOString();

/** The head columns of a policy without a rollout in progress. */
export const NO_ROLLOUT = {
  canary_version: null,
  canary_by: null,
  canary_steps: null,
  canary_step: null,
  rollout_id: null,
  rollout_started_at: null,
} as const;

/** Update one policy's head row. */
export async function updateHead(
  trx: Transaction<Schema>,
  tenantId: string,
  name: string,
  changes: Updateable<Schema['policy_heads']>,
): Promise<void> {
  await trx
    .updateTable('policy_heads')
    .set(changes)
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .execute();
}

/**
 * The spec of a tenant whose policies may change (`given` when the tenant is not stored
 * yet); a 404 for an unknown tenant, a 409 for one being deleted.
 */
export async function writableTenant(
  db: Db,
  tenantId: string,
  given?: Record<string, unknown>,
): Promise<{ spec: Record<string, unknown> }> {
  const row = await tenantFacts(db, tenantId);
  if (!row) {
    if (given) return { spec: given };
    throw notFound('tenant_not_found', `tenant ${tenantId} not found`);
  }
  if (row.phase === 'deleting' || row.phase === 'deleted')
    throw conflict(`tenant_${row.phase}`, `tenant ${tenantId} is ${row.phase}; its policies cannot change`);
  return { spec: given ?? (row.spec as unknown as Record<string, unknown>) };
}

/** A policy's head row (locked with `lock`), or a 404. */
export async function findHead(db: Db, tenantId: string, name: string, lock = false): Promise<HeadRow> {
  let q = db.selectFrom('policy_heads').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name);
  if (lock) q = q.forUpdate();
  const head = await q.executeTakeFirst();
  if (!head) throw notFound('policy_not_found', `tenant ${tenantId} has no policy ${name}`);
  return head;
}

/** One version's row, or a 404. */
export async function findVersion(db: Db, tenantId: string, name: string, version: number): Promise<VersionRow> {
  const row = await db
    .selectFrom('policy_versions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .where('version', '=', version)
    .executeTakeFirst();
  if (!row) throw notFound('policy_version_not_found', `policy ${name} has no version ${version}`);
  return row;
}

/** A head row as the API shows it (with its stable version's semver). */
export async function toPolicyInfo(db: Db, head: HeadRow): Promise<PolicyInfo> {
  const stable = await findVersion(db, head.tenant_id, head.name, head.stable_version);
  const steps = head.canary_steps ?? DEFAULT_ROLLOUT_STEPS;
  return {
    tenantId: head.tenant_id,
    name: head.name,
    domainId: head.domain_id,
    usecaseId: head.usecase_id,
    latestVersion: head.latest_version,
    stableVersion: head.stable_version,
    stableSemver: stable.semver,
    rollout:
      head.canary_version !== null && head.rollout_id !== null
        ? {
            id: head.rollout_id,
            version: head.canary_version,
            by: head.canary_by ?? 'traffic',
            steps,
            step: head.canary_step ?? 0,
            percent: steps[head.canary_step ?? 0] ?? 0,
            startedAt: iso(head.rollout_started_at!),
          }
        : null,
    updatedAt: iso(head.updated_at),
  };
}

/** A version row as the API shows it. */
export function toVersionInfo(r: VersionRow): PolicyVersionInfo {
  return {
    tenantId: r.tenant_id,
    name: r.name,
    domainId: r.domain_id,
    usecaseId: r.usecase_id,
    version: r.version,
    semver: r.semver,
    digest: r.digest,
    keyId: r.key_id,
    approvalStatus: r.approval_status as ApprovalStatus,
    approvalRef: r.approval_ref,
    source: r.source,
    committedAt: iso(r.committed_at),
    committedBy: r.committed_by,
    document: r.body,
  };
}

/**
 * Remove everything policies keep for a tenant (versions, heads, samples, keys) inside
 * the purge's transaction; the only path that may delete versions. Returns the number of
 * versions removed.
 */
export async function purgeTenantPolicies(trx: Transaction<Schema>, tenantId: string): Promise<number> {
  await sql`select set_config('tenancy.purging_tenant', ${tenantId}, true)`.execute(trx);
  const versions = await trx.deleteFrom('policy_versions').where('tenant_id', '=', tenantId).executeTakeFirst();
  await sql`select set_config('tenancy.purging_tenant', '', true)`.execute(trx);
  await trx.deleteFrom('policy_heads').where('tenant_id', '=', tenantId).execute();
  await trx.deleteFrom('policy_samples').where('tenant_id', '=', tenantId).execute();
  await trx.deleteFrom('policy_keys').where('tenant_id', '=', tenantId).execute();
  return Number(versions.numDeletedRows);
}
