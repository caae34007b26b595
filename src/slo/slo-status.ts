/**
 * The status of tenants' SLOs at a moment, computed in three grouped queries whatever the
 * number of tenants (one per bucket resolution): the SLI over the SLO's window, the error
 * budget, burn rates over 5m, 30m, 1h, 6h and 3d, and the alerts of the SRE workbook's
 * multi-window, multi-burn-rate rules:
 *
 * - page: burn ≥ 14.4 over 1h and over 5m, or ≥ 6 over 6h and over 30m;
 * - ticket: burn ≥ 1 over 3d and over 6h;
 *
 * each only when the long window holds at least `minEvents` events. Burn rate = the bad
 * share over the window ÷ the bad share the SLO allows (1 − target). Windows are read at
 * their resolution: 5m, 30m and 1h from minute buckets, 6h and 3d from hour buckets (the
 * current hour included), SLO windows of up to 3 days from hour buckets and longer ones
 * from day buckets (today included).
 */
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../schema.js';
import { LATENCY_BOUNDS_MS } from '../contract/latency-histogram.js';
import { goodTarget, windowMs, type SloSpec } from './slo-schema.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The burn-rate windows, in order. */
export const BURN_WINDOWS = ['5m', '30m', '1h', '6h', '3d'] as const;
export type BurnWindow = (typeof BURN_WINDOWS)[number];

/** The alert rules. */
export const ALERT_RULES = [
  { name: 'page-fast', severity: 'page', long: '1h', short: '5m', burn: 14.4 },
  { name: 'page-slow', severity: 'page', long: '6h', short: '30m', burn: 6 },
  { name: 'ticket', severity: 'ticket', long: '3d', short: '6h', burn: 1 },
] as const;

/** An SLO of a tenant. */
export interface SloDefinition {
  tenantId: string;
  name: string;
  spec: SloSpec;
}

/** An alert that fires now. */
export interface SloAlert {
  rule: (typeof ALERT_RULES)[number]['name'];
  severity: 'page' | 'ticket';
  burnRates: { long: number; short: number };
  threshold: number;
}

/** An SLO's status. */
export interface SloStatus {
  tenantId: string;
  name: string;
  spec: SloSpec;
  window: { from: string; to: string; events: number; good: number };
  /** The SLI over the window (null without events). */
  sli: number | null;
  errorBudget: {
    unit: 'minutes' | 'events';
    total: number;
    consumed: number;
    remaining: number;
    /** The share of the budget spent (can exceed 1). */
    consumedRatio: number;
    status: 'healthy' | 'warning' | 'exhausted';
  };
  burnRates: Record<BurnWindow, number | null>;
  events: Record<BurnWindow, number>;
  alerts: SloAlert[];
}

/** From which table, and since when, a window is summed. */
interface WindowRead {
  table: 'sli_minutes' | 'sli_hours' | 'sli_days';
  since: Date;
}

function floorTo(ms: number, unit: number): number {
  return ms - (ms % unit);
}

function burnWindowRead(w: BurnWindow, now: number): WindowRead {
  switch (w) {
    case '5m':
      return { table: 'sli_minutes', since: new Date(floorTo(now, MINUTE_MS) - 4 * MINUTE_MS) };
    case '30m':
      return { table: 'sli_minutes', since: new Date(floorTo(now, MINUTE_MS) - 29 * MINUTE_MS) };
    case '1h':
      return { table: 'sli_minutes', since: new Date(floorTo(now, MINUTE_MS) - 59 * MINUTE_MS) };
    case '6h':
      return { table: 'sli_hours', since: new Date(floorTo(now, HOUR_MS) - 5 * HOUR_MS) };
    case '3d':
      return { table: 'sli_hours', since: new Date(floorTo(now, HOUR_MS) - 71 * HOUR_MS) };
  }
}

function sloWindowRead(window: string, now: number): WindowRead {
  const ms = windowMs(window)!;
  if (ms <= 3 * DAY_MS) {
    const hours = Math.max(1, Math.round(ms / HOUR_MS));
    return { table: 'sli_hours', since: new Date(floorTo(now, HOUR_MS) - (hours - 1) * HOUR_MS) };
  }
  const days = Math.max(1, Math.round(ms / DAY_MS));
  return { table: 'sli_days', since: new Date(floorTo(now, DAY_MS) - (days - 1) * DAY_MS) };
}

/** Which column of a cumulative histogram a threshold reads, and how much of the next one. */
function thresholdIndex(value: number): { index: number; fraction: number } {
  let i = 0;
  while (i < LATENCY_BOUNDS_MS.length - 1 && LATENCY_BOUNDS_MS[i]! < value) i++;
  const upper = LATENCY_BOUNDS_MS[i]!;
  if (upper === value || i === 0) return { index: i, fraction: 0 };
  // value lies inside bucket i: events at or under the previous bound, plus a share of bucket i.
  const lower = LATENCY_BOUNDS_MS[i - 1]!;
  return { index: i - 1, fraction: Number.isFinite(upper) ? (value - lower) / (upper - lower) : 0 };
}

/** Columns one query sums, by key. */
class Plan {
  readonly windows = new Map<string, Date>();
  readonly arrays = new Map<string, { array: 'latency' | 'cost'; index: number; window: string }>();

  window(since: Date): string {
    const key = `w${since.getTime()}`;
    this.windows.set(key, since);
    return key;
  }

  element(array: 'latency' | 'cost', index: number, window: string): string {
    const key = `${array}_${index}_${window}`;
    this.arrays.set(key, { array, index, window });
    return key;
  }
}

async function runPlan(
  db: Kysely<Schema>,
  table: WindowRead['table'],
  plan: Plan,
  tenantIds: readonly string[] | undefined,
  until: Date,
): Promise<Array<Record<string, unknown>>> {
  if (plan.windows.size === 0) return [];
  const since = new Date(Math.min(...[...plan.windows.values()].map((d) => d.getTime())));
  const cols = [];
  for (const [key, from] of plan.windows) {
    cols.push(sql`sum(total) filter (where bucket >= ${from}) as ${sql.ref(`total_${key}`)}`);
    cols.push(sql`sum(errors) filter (where bucket >= ${from}) as ${sql.ref(`errors_${key}`)}`);
  }
  for (const [key, e] of plan.arrays)
    cols.push(
      sql`sum(${sql.ref(e.array)}[${sql.lit(e.index + 1)}]) filter (where bucket >= ${plan.windows.get(e.window)!}) as ${sql.ref(key)}`,
    );
  const where = tenantIds ? sql`and tenant_id = any(${[...tenantIds]}::text[])` : sql``;
  const result = await sql<Record<string, unknown>>`
    select tenant_id, source, ${sql.join(cols)} from ${sql.table(table)}
     where bucket >= ${since} and bucket <= ${until} ${where}
     group by tenant_id, source`.execute(db);
  return result.rows;
}

/** Statuses of `definitions` at `now`. */
export async function sloStatuses(
  db: Kysely<Schema>,
  definitions: readonly SloDefinition[],
  now = Date.now(),
  options: { tenantIds?: readonly string[] } = {},
): Promise<SloStatus[]> {
  if (definitions.length === 0) return [];
  const plans = { sli_minutes: new Plan(), sli_hours: new Plan(), sli_days: new Plan() };
  const keyOf = (read: WindowRead) => ({ table: read.table, key: plans[read.table].window(read.since) });
  const burnKeys = Object.fromEntries(BURN_WINDOWS.map((w) => [w, keyOf(burnWindowRead(w, now))])) as Record<
    BurnWindow,
    { table: WindowRead['table']; key: string }
  >;
  const goodColumns = (spec: SloSpec, at: { table: WindowRead['table']; key: string }) => {
    if (spec.objective !== 'latency' && spec.objective !== 'cost') return undefined;
    const value = spec.objective === 'latency' ? spec.thresholdMs! : spec.thresholdUsd! * 1e6;
    const { index, fraction } = thresholdIndex(value);
    const array = spec.objective === 'latency' ? 'latency' : 'cost';
    return {
      at: plans[at.table].element(array, index, at.key),
      next: fraction > 0 ? plans[at.table].element(array, index + 1, at.key) : undefined,
      fraction,
    };
  };
  const perSlo = definitions.map((d) => {
    const windowKey = keyOf(sloWindowRead(d.spec.window, now));
    return {
      d,
      windowKey,
      windowGood: goodColumns(d.spec, windowKey),
      burnGood: Object.fromEntries(BURN_WINDOWS.map((w) => [w, goodColumns(d.spec, burnKeys[w])])),
    };
  });
  const ids = options.tenantIds ?? [...new Set(definitions.map((d) => d.tenantId))];
  const rows = {
    // Buckets after `now` (a status asked for a past moment) do not count.
    sli_minutes: await runPlan(db, 'sli_minutes', plans.sli_minutes, ids, new Date(now)),
    sli_hours: await runPlan(db, 'sli_hours', plans.sli_hours, ids, new Date(now)),
    sli_days: await runPlan(db, 'sli_days', plans.sli_days, ids, new Date(now)),
  };
  // tenant -> source -> table -> row
  const index = new Map<string, Map<string, Partial<Record<WindowRead['table'], Record<string, unknown>>>>>();
  for (const table of Object.keys(rows) as Array<WindowRead['table']>)
    for (const r of rows[table]) {
      const t = r.tenant_id as string;
      const s = r.source as string;
      const bySource = index.get(t) ?? new Map();
      index.set(t, bySource);
      const entry = bySource.get(s) ?? {};
      entry[table] = r;
      bySource.set(s, entry);
    }
  const sum = (tenantId: string, source: string, table: WindowRead['table'], column: string): number => {
    const bySource = index.get(tenantId);
    if (!bySource) return 0;
    let n = 0;
    for (const [s, entry] of bySource) if (source === 'all' || s === source) n += Number(entry[table]?.[column] ?? 0);
    return n;
  };
  const counts = (
    d: SloDefinition,
    at: { table: WindowRead['table']; key: string },
    good: ReturnType<typeof goodColumns>,
  ): { total: number; good: number } => {
    const total = sum(d.tenantId, d.spec.source, at.table, `total_${at.key}`);
    if (!good) return { total, good: total - sum(d.tenantId, d.spec.source, at.table, `errors_${at.key}`) };
    const base = sum(d.tenantId, d.spec.source, at.table, good.at);
    const next = good.next ? sum(d.tenantId, d.spec.source, at.table, good.next) : base;
    return { total, good: base + (next - base) * good.fraction };
  };
  return perSlo.map(({ d, windowKey, windowGood, burnGood }) => {
    const allowed = 1 - goodTarget(d.spec);
    const w = counts(d, windowKey, windowGood);
    const badShare = w.total > 0 ? (w.total - w.good) / w.total : 0;
    const windowMinutes = windowMs(d.spec.window)! / MINUTE_MS;
    const unit = d.spec.objective === 'availability' ? ('minutes' as const) : ('events' as const);
    const budgetTotal = unit === 'minutes' ? windowMinutes * allowed : w.total * allowed;
    const consumed = unit === 'minutes' ? windowMinutes * badShare : w.total - w.good;
    const consumedRatio = w.total > 0 ? round(badShare / allowed) : 0;
    const burnRates = {} as Record<BurnWindow, number | null>;
    const events = {} as Record<BurnWindow, number>;
    for (const bw of BURN_WINDOWS) {
      const c = counts(d, burnKeys[bw], burnGood[bw]);
      events[bw] = c.total;
      burnRates[bw] = c.total > 0 ? round((c.total - c.good) / c.total / allowed) : null;
    }
    const alerts: SloAlert[] = [];
    for (const rule of ALERT_RULES) {
      const long = burnRates[rule.long];
      const short = burnRates[rule.short];
      if (long === null || short === null || events[rule.long] < d.spec.minEvents) continue;
      if (long >= rule.burn && short >= rule.burn)
        alerts.push({ rule: rule.name, severity: rule.severity, burnRates: { long, short }, threshold: rule.burn });
    }
    const status =
      w.total >= d.spec.minEvents && consumedRatio >= 1
        ? ('exhausted' as const)
        : w.total >= d.spec.minEvents && consumedRatio >= 0.75
          ? ('warning' as const)
          : ('healthy' as const);
    return {
      tenantId: d.tenantId,
      name: d.name,
      spec: d.spec,
      window: {
        from: sloWindowRead(d.spec.window, now).since.toISOString(),
        to: new Date(now).toISOString(),
        events: w.total,
        good: round(w.good),
      },
      sli: w.total > 0 ? round(w.good / w.total) : null,
      errorBudget: {
        unit,
        total: round(budgetTotal),
        consumed: round(consumed),
        remaining: round(budgetTotal - consumed),
        consumedRatio: round(consumedRatio),
        status,
      },
      burnRates,
      events,
      alerts,
    };
  });
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;
