/**
 * The pieces every quota shares: which quotas are counted, the `quota_counters` rows (locked,
 * created at 0, never below zero), the tenant's limits read in the caller's transaction, the
 * last database-size sample, and the `quota_exceeded` refusal.
 */
import type { Kysely, Transaction } from 'kysely';
import type { QuotaStatus, QuotaUse } from '../contract/index.js';
import { TenancyError, notFound } from '../errors.js';
import type { Schema } from '../schema.js';
import { effectiveQuotas, tenantFacts, type EffectiveQuotas, type TenantSpec } from '../tenants/index.js';
import { DATABASE_BYTES } from './meters.js';

/** Quotas an app counts and reserves through the control plane. */
export const COUNTED_QUOTAS = ['maxUsers', 'maxProjects'] as const;
/** One of {@link COUNTED_QUOTAS}. */
export type CountedQuota = (typeof COUNTED_QUOTAS)[number];

/** The counter row that holds object bytes. */
export const OBJECT_BYTES_COUNTER = 'objectBytes';

/** The counter row of each counted quota. */
export const COUNTER_OF: Record<CountedQuota, string> = { maxUsers: 'users', maxProjects: 'projects' };

/** One quota's state. */
export type QuotaState = QuotaStatus<keyof EffectiveQuotas>;

export type { QuotaUse };

/** The 409 for a count or size over its quota (403 for the monthly cost cap). */
export function quotaExceeded(
  tenantId: string,
  quota: string,
  limit: number,
  current: number,
  detail: string,
  options: { status?: number; retryAfterSeconds?: number; extra?: Record<string, unknown> } = {},
): TenancyError {
  return new TenancyError('quota_exceeded', `tenant ${tenantId}: ${detail}`, {
    status: options.status ?? 409,
    extensions: { quota, limit, current, ...options.extra },
    ...(options.retryAfterSeconds !== undefined
      ? { headers: { 'Retry-After': String(options.retryAfterSeconds) } }
      : {}),
  });
}

/** A tenant's spec, effective quotas and phase, read through `exec` (the change's transaction); 404 when unknown. */
export async function quotaTenant(
  exec: Kysely<Schema>,
  tenantId: string,
): Promise<{ spec: TenantSpec; quotas: EffectiveQuotas; phase: string }> {
  const row = await tenantFacts(exec, tenantId);
  if (!row) throw notFound('tenant_not_found', `tenant ${tenantId} not found`);
  return { spec: row.spec, quotas: effectiveQuotas(row.spec), phase: row.phase };
}

/** Lock (creating it at 0) a counter row; returns its use. */
export async function lockCounter(trx: Transaction<Schema>, tenantId: string, counter: string): Promise<number> {
  await trx
    .insertInto('quota_counters')
    .values({ tenant_id: tenantId, quota: counter, used: 0, updated_at: new Date().toISOString() })
    .onConflict((oc) => oc.columns(['tenant_id', 'quota']).doNothing())
    .execute();
  const row = await trx
    .selectFrom('quota_counters')
    .select('used')
    .where('tenant_id', '=', tenantId)
    .where('quota', '=', counter)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return Number(row.used);
}

/** Set a locked counter row's use (never below zero). */
export async function setCounter(
  trx: Transaction<Schema>,
  tenantId: string,
  counter: string,
  used: number,
): Promise<void> {
  await trx
    .updateTable('quota_counters')
    .set({ used: Math.max(0, used), updated_at: new Date().toISOString() })
    .where('tenant_id', '=', tenantId)
    .where('quota', '=', counter)
    .execute();
}

/** The last database-size sample of a tenant (bytes), 0 when none was taken yet. */
export async function databaseBytes(exec: Kysely<Schema>, tenantId: string): Promise<number> {
  const row = await exec
    .selectFrom('usage_rollups')
    .select('max_amount')
    .where('tenant_id', '=', tenantId)
    .where('granularity', '=', 'hour')
    .where('resource', '=', DATABASE_BYTES)
    .orderBy('bucket_start', 'desc')
    .limit(1)
    .executeTakeFirst();
  return Number(row?.max_amount ?? 0);
}

/** Counts and objects change only while the tenant is live. */
export function assertWritable(tenantId: string, phase: string): void {
  if (phase === 'deleting' || phase === 'deleted' || phase === 'archiving' || phase === 'archived') {
    throw new TenancyError(`tenant_${phase}`, `tenant ${tenantId} is ${phase}; its quotas cannot be used`);
  }
}
