/**
 * Every quota of a tenant with its limit, current use and who enforces it, and the monthly
 * cost cap (`maxCostPerMonthUsd`), refused with 403 until the month ends.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../schema.js';
import type { EffectiveQuotas } from '../tenants/index.js';
import { REQUESTS, bucketStart, monthOf, monthRange } from './meters.js';
import {
  COUNTER_OF,
  OBJECT_BYTES_COUNTER,
  databaseBytes,
  quotaExceeded,
  quotaTenant,
  type QuotaState,
} from './quota-counters.js';
import { costExceeded, type UsageStore } from './usage-store.js';

/** Every quota of the tenant with its limit and current use. */
export async function quotaStatus(
  db: Kysely<Schema>,
  usage: UsageStore,
  tenantId: string,
  now = Date.now(),
): Promise<QuotaState[]> {
  const { spec, quotas } = await quotaTenant(db, tenantId);
  const counters = await db
    .selectFrom('quota_counters')
    .select(['quota', 'used'])
    .where('tenant_id', '=', tenantId)
    .execute();
  const counter = (name: string) => Number(counters.find((c) => c.quota === name)?.used ?? 0);
  const hour = bucketStart(now, 'hour');
  const requests = await db
    .selectFrom('usage_rollups')
    .select('amount')
    .where('tenant_id', '=', tenantId)
    .where('granularity', '=', 'hour')
    .where('resource', '=', REQUESTS)
    .where('bucket_start', '=', new Date(hour))
    .executeTakeFirst();
  const storage = counter(OBJECT_BYTES_COUNTER) + (await databaseBytes(db, tenantId));
  const month = monthOf(now);
  const cost = await usage.monthCost(tenantId, spec.plan, month);
  const state = (
    quota: keyof EffectiveQuotas,
    current: number | null,
    unit: string,
    enforcedBy: QuotaState['enforcedBy'],
    resetsAt: string | null,
    exceeded?: boolean,
  ): QuotaState => ({
    quota,
    limit: quotas[quota],
    current,
    unit,
    exceeded: exceeded ?? (current !== null && current > quotas[quota]),
    enforcedBy,
    resetsAt,
  });
  const hourRequests = Number(requests?.amount ?? 0);
  return [
    state(
      'maxRequestsPerHour',
      hourRequests,
      'requests',
      'sdk',
      new Date(hour + 3_600_000).toISOString(),
      hourRequests >= quotas.maxRequestsPerHour,
    ),
    state('maxConcurrentRequests', null, 'requests', 'sdk', null),
    state(
      'maxUsers',
      counter(COUNTER_OF.maxUsers),
      'users',
      'control-plane',
      null,
      counter(COUNTER_OF.maxUsers) >= quotas.maxUsers,
    ),
    state(
      'maxProjects',
      counter(COUNTER_OF.maxProjects),
      'projects',
      'control-plane',
      null,
      counter(COUNTER_OF.maxProjects) >= quotas.maxProjects,
    ),
    state('storageLimitBytes', storage, 'bytes', 'control-plane', null, storage >= quotas.storageLimitBytes),
    state(
      'maxCostPerMonthUsd',
      cost,
      'USD',
      'sdk',
      monthRange(month).to.toISOString(),
      costExceeded(cost, quotas.maxCostPerMonthUsd),
    ),
  ];
}

/**
 * Refuse with 403 `quota_exceeded` (and `Retry-After` until the next month) when the
 * tenant's cost this month is over `maxCostPerMonthUsd`.
 */
export async function assertCostAllowed(
  db: Kysely<Schema>,
  usage: UsageStore,
  tenantId: string,
  now = Date.now(),
): Promise<void> {
  const state = (await quotaStatus(db, usage, tenantId, now)).find((q) => q.quota === 'maxCostPerMonthUsd')!;
  if (state.exceeded) {
    throw quotaExceeded(
      tenantId,
      'maxCostPerMonthUsd',
      state.limit,
      state.current!,
      `cost this month is ${state.current} USD, the limit is ${state.limit} USD`,
      { status: 403, retryAfterSeconds: Math.max(1, Math.ceil((Date.parse(state.resetsAt!) - now) / 1000)) },
    );
  }
}
