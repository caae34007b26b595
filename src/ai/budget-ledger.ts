/**
 * The budget ledger port: a tenant's model spend per UTC day and UTC month, held to limits
 * that concurrent calls on any number of replicas cannot overspend. A call reserves its
 * worst-case cost before going upstream and settles afterwards (commits the actual cost,
 * releases the rest); holds of calls that never settle expire and are swept. Money is integer
 * micro-dollars. Engines: `budget-ledger-sql.ts` (PGlite, PostgreSQL), `budget-ledger-redis.ts`.
 */
import { randomUUID } from 'node:crypto';
import { TenancyError } from '../errors.js';

/** A tenant's limits, read from its router document on each call; an absent limit is no limit. */
export interface BudgetLimits {
  dailyMicros?: number | undefined;
  monthlyMicros?: number | undefined;
}

/** One window as it stands: its limit (`null`: unlimited), spend, holds and when it starts again. */
export interface WindowUsage {
  window: 'day' | 'month';
  key: string;
  limitMicros: number | null;
  spentMicros: number;
  reservedMicros: number;
  resetsAt: Date;
}

/** A hold on a tenant's day and month windows, to be settled once the call is done. */
export interface Reservation {
  id: string;
  tenantId: string;
  dayKey: string;
  monthKey: string;
  amountMicros: number;
}

/** A reserve's answer: the hold and the windows with it, or the first window it would overspend. */
export type ReserveResult =
  | { ok: true; reservation: Reservation; windows: WindowUsage[] }
  | { ok: false; exhausted: WindowUsage; windows: WindowUsage[] };

/** Options of {@link BudgetLedger.reserve}: the clock (for the windows and the expiry) and the hold's lifetime. */
export interface ReserveOptions {
  now?: Date;
  ttlMs?: number;
}

/**
 * Spend per tenant and window, with holds for calls in flight. Both windows are tracked
 * whether limited or not; `windows` are always `[day, month]`.
 */
export interface BudgetLedger {
  /**
   * Atomically: sweep this tenant's expired reservations (releasing them), then hold
   * `amountMicros` in both windows if spent + reserved + amount <= limit in every limited
   * window; else hold nothing.
   */
  reserve(
    tenantId: string,
    limits: BudgetLimits,
    amountMicros: number,
    options?: ReserveOptions,
  ): Promise<ReserveResult>;
  /**
   * Commit `actualMicros` as spent in the reservation's windows and release its hold, once:
   * settling again while the reservation is still known (until its expiry) changes nothing;
   * a settle after the reservation expired and was swept adds the spend and releases nothing.
   */
  settle(reservation: Reservation, actualMicros: number): Promise<void>;
  /** The tenant's current windows (no hold); holds that expired count until the tenant's next reserve sweeps them. */
  status(tenantId: string, limits: BudgetLimits, now?: Date): Promise<WindowUsage[]>;
  close(): Promise<void>;
}

/** How long a hold lasts when the caller does not say: longer than any upstream call should take. */
export const DEFAULT_RESERVATION_TTL_MS = 10 * 60_000;

/** Window keys of the UTC day and month holding `now` (`day:2026-12-07`, `month:2026-12`) and when each ends. */
export function windowKeys(now: Date): { day: string; month: string; dayResetsAt: Date; monthResetsAt: Date } {
  const iso = now.toISOString();
  const [y, m, d] = [now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()];
  return {
    day: `day:${iso.slice(0, 10)}`,
    month: `month:${iso.slice(0, 7)}`,
    dayResetsAt: new Date(Date.UTC(y, m, d + 1)),
    monthResetsAt: new Date(Date.UTC(y, m + 1, 1)),
  };
}

/** A new hold of `amountMicros` for `tenantId` in the windows holding `now`. */
export function newReservation(
  tenantId: string,
  amountMicros: number,
  now: Date,
): { keys: ReturnType<typeof windowKeys>; reservation: Reservation } {
  const keys = windowKeys(now);
  return { keys, reservation: { id: randomUUID(), tenantId, dayKey: keys.day, monthKey: keys.month, amountMicros } };
}

/** Spend and holds of the day and month windows, as an engine reads them. */
export interface WindowCounts {
  daySpent: number;
  dayReserved: number;
  monthSpent: number;
  monthReserved: number;
}

/** The `[day, month]` usage of the windows holding `now`. */
export function windowUsage(limits: BudgetLimits, now: Date, counts: WindowCounts): WindowUsage[] {
  const keys = windowKeys(now);
  return [
    {
      window: 'day',
      key: keys.day,
      limitMicros: limits.dailyMicros ?? null,
      spentMicros: counts.daySpent,
      reservedMicros: counts.dayReserved,
      resetsAt: keys.dayResetsAt,
    },
    {
      window: 'month',
      key: keys.month,
      limitMicros: limits.monthlyMicros ?? null,
      spentMicros: counts.monthSpent,
      reservedMicros: counts.monthReserved,
      resetsAt: keys.monthResetsAt,
    },
  ];
}

/** A reserve's result from what the engine answered (`exhausted`: the window that refused, if any). */
export function reserveResult(
  reservation: Reservation,
  exhausted: 'day' | 'month' | null,
  limits: BudgetLimits,
  now: Date,
  counts: WindowCounts,
): ReserveResult {
  const windows = windowUsage(limits, now, counts);
  if (exhausted === null) return { ok: true, reservation, windows };
  return { ok: false, exhausted: windows[exhausted === 'day' ? 0 : 1]!, windows };
}

/** Throw unless `value` is a whole, non-negative number of micro-dollars (the engines store int8). */
export function assertMicros(name: string, value: number | undefined): void {
  if (value === undefined || (Number.isSafeInteger(value) && value >= 0)) return;
  throw new TenancyError('validation_failed', `${name} must be a whole, non-negative number of micro-dollars`, {
    errors: [{ path: `/${name}`, message: `got ${value}` }],
  });
}

/** Check a reserve's arguments; returns the clock and expiry to use. */
export function reserveArguments(
  limits: BudgetLimits,
  amountMicros: number,
  options: ReserveOptions = {},
): { now: Date; expiresAt: Date } {
  assertMicros('amountMicros', amountMicros);
  assertMicros('dailyMicros', limits.dailyMicros);
  assertMicros('monthlyMicros', limits.monthlyMicros);
  const ttlMs = options.ttlMs ?? DEFAULT_RESERVATION_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new TenancyError('validation_failed', 'ttlMs must be a positive number of milliseconds');
  const now = options.now ?? new Date();
  return { now, expiresAt: new Date(now.getTime() + ttlMs) };
}
