/**
 * The drift map: per tenant, how its governance and answer quality moved this week
 * against its own baseline, and which tenants' policies conflict.
 *
 * For a tenant at time `now`:
 * - `policyChanges7d`: `policy.committed` events in the outbox in the last 7 days;
 * - `averageTrust7d`: the mean trust score of its lineage records in the last 7 days;
 * - `baseline`: mean and population standard deviation of the trust scores in the 30
 *   days before that (days 8 to 37 back);
 * - `driftScore` = |averageTrust7d − baseline.mean| / max(baseline.stddev, 0.01): how
 *   many baseline standard deviations this week moved (the floor keeps a perfectly steady
 *   baseline from dividing by zero); `drifting` when it is 2 or more; null without data;
 * - `qualityTrend`: the least-squares slope of the daily mean trust over the last 7 days
 *   (per day; `improving` above +0.005, `declining` below −0.005, else `stable`).
 */
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../../schema.js';
import { countEventsByTenant } from '../../ledger/index.js';
import type { PolicyConflict } from '../policies/index.js';

/** Where conflicts between tenant policies come from (the policy service implements it). */
export interface PolicyConflictSource {
  findPolicyConflicts(filter: { tenantId?: string }): Promise<PolicyConflict[]>;
}

/** Drift figures of one tenant. */
export interface TenantDrift {
  tenantId: string;
  window: { from: string; to: string };
  policyChanges7d: number;
  lineage7d: number;
  averageTrust7d: number | null;
  baseline: { from: string; to: string; count: number; mean: number | null; stddev: number | null };
  driftScore: number | null;
  drifting: boolean;
  qualityTrend: {
    slopePerDay: number | null;
    direction: 'improving' | 'declining' | 'stable' | 'unknown';
    daily: Array<{ day: string; averageTrust: number; count: number }>;
  };
}

const DAY_MS = 86_400_000;
export const DRIFT_STDDEV_FLOOR = 0.01;
export const DRIFT_THRESHOLD = 2;
export const TREND_EPSILON = 0.005;
/** Event types that count as a policy change (stored short, or namespaced). */
export const POLICY_COMMITTED_TYPES = ['policy.committed', 'tenancy.policy.committed'];

const round = (v: number) => Math.round(v * 1e6) / 1e6;

/** Least-squares slope of y over x; null with fewer than two points. */
export function slope(points: ReadonlyArray<{ x: number; y: number }>): number | null {
  if (points.length < 2) return null;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  if (sxx === 0) return null;
  return points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}

/** Drift figures for `tenantIds` at `now`, computed in a few grouped queries. */
export async function computeDrift(
  db: Kysely<Schema>,
  tenantIds: readonly string[],
  now = new Date(),
): Promise<TenantDrift[]> {
  if (tenantIds.length === 0) return [];
  const ids = [...tenantIds];
  const weekStart = new Date(now.getTime() - 7 * DAY_MS);
  const baseStart = new Date(now.getTime() - 37 * DAY_MS);
  const nowIso = now.toISOString();
  const week = await db
    .selectFrom('lineage_records')
    .select([
      'tenant_id',
      sql<number>`floor(extract(epoch from (${nowIso}::timestamptz - ts)) / 86400)`.as('days_ago'),
      sql<number>`count(*)`.as('n'),
      sql<number>`avg(trust_score)`.as('mean'),
    ])
    .where('tenant_id', 'in', ids)
    .where('ts', '>', weekStart)
    .where('ts', '<=', now)
    .groupBy(['tenant_id', sql`2`])
    .execute();
  const base = await db
    .selectFrom('lineage_records')
    .select([
      'tenant_id',
      sql<number>`count(*)`.as('n'),
      sql<number>`avg(trust_score)`.as('mean'),
      sql<number>`stddev_pop(trust_score)`.as('sd'),
    ])
    .where('tenant_id', 'in', ids)
    .where('ts', '>', baseStart)
    .where('ts', '<=', weekStart)
    .groupBy('tenant_id')
    .execute();
  const policy = await countEventsByTenant(db, {
    tenantIds: ids,
    types: POLICY_COMMITTED_TYPES,
    after: weekStart,
    until: now,
  });
  return ids.map((tenantId) => {
    const days = week
      .filter((w) => w.tenant_id === tenantId)
      .map((w) => ({ daysAgo: Math.min(6, Number(w.days_ago)), n: Number(w.n), mean: Number(w.mean) }));
    // Merge the (rare) boundary bucket 7 into day 6 so there are exactly seven days.
    const byDay = new Map<number, { n: number; sum: number }>();
    for (const d of days) {
      const e = byDay.get(d.daysAgo) ?? { n: 0, sum: 0 };
      e.n += d.n;
      e.sum += d.mean * d.n;
      byDay.set(d.daysAgo, e);
    }
    const daily = [...byDay.entries()]
      .sort((a, b) => b[0] - a[0])
      .map(([daysAgo, e]) => ({ daysAgo, count: e.n, averageTrust: e.sum / e.n }));
    const count7 = daily.reduce((s, d) => s + d.count, 0);
    const avg7 = count7 > 0 ? daily.reduce((s, d) => s + d.averageTrust * d.count, 0) / count7 : null;
    const b = base.find((r) => r.tenant_id === tenantId);
    const bCount = b ? Number(b.n) : 0;
    const bMean = bCount > 0 ? Number(b!.mean) : null;
    const bSd = bCount > 0 ? Number(b!.sd ?? 0) : null;
    const driftScore =
      avg7 !== null && bMean !== null && bSd !== null
        ? Math.abs(avg7 - bMean) / Math.max(bSd, DRIFT_STDDEV_FLOOR)
        : null;
    const s = slope(daily.map((d) => ({ x: -d.daysAgo, y: d.averageTrust })));
    return {
      tenantId,
      window: { from: weekStart.toISOString(), to: nowIso },
      policyChanges7d: policy.get(tenantId) ?? 0,
      lineage7d: count7,
      averageTrust7d: avg7 === null ? null : round(avg7),
      baseline: {
        from: baseStart.toISOString(),
        to: weekStart.toISOString(),
        count: bCount,
        mean: bMean === null ? null : round(bMean),
        stddev: bSd === null ? null : round(bSd),
      },
      driftScore: driftScore === null ? null : round(driftScore),
      drifting: driftScore !== null && driftScore >= DRIFT_THRESHOLD,
      qualityTrend: {
        slopePerDay: s === null ? null : round(s),
        direction:
          s === null ? 'unknown' : s > TREND_EPSILON ? 'improving' : s < -TREND_EPSILON ? 'declining' : 'stable',
        daily: daily.map((d) => ({
          day: new Date(now.getTime() - (d.daysAgo + 1) * DAY_MS).toISOString(),
          averageTrust: round(d.averageTrust),
          count: d.count,
        })),
      },
    };
  });
}
