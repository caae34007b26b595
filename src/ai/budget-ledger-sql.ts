import { sql, type Kysely } from 'kysely';
import type { Schema } from '../schema.js';
import {
  assertMicros,
  newReservation,
  reserveArguments,
  reserveResult,
  windowKeys,
  windowUsage,
  type BudgetLedger,
  type BudgetLimits,
  type Reservation,
  type ReserveOptions,
  type ReserveResult,
  type WindowUsage,
} from './budget-ledger.js';

interface ReserveRow {
  exhausted: 'day' | 'month' | null;
  day_spent: number | string;
  day_reserved: number | string;
  month_spent: number | string;
  month_reserved: number | string;
}

/** The budget ledger over the store's `ai_budget_*` tables; the store stays the caller's to close. */
export class SqlBudgetLedger implements BudgetLedger {
  constructor(private readonly db: Kysely<Schema>) {}

  async reserve(
    tenantId: string,
    limits: BudgetLimits,
    amountMicros: number,
    options?: ReserveOptions,
  ): Promise<ReserveResult> {
    const { now, expiresAt } = reserveArguments(limits, amountMicros, options);
    const { keys, reservation } = newReservation(tenantId, amountMicros, now);
    const { rows } = await sql<ReserveRow>`
      select * from ai_budget_reserve(
        ${tenantId}::text, ${reservation.id}::text, ${keys.day}::text, ${keys.month}::text,
        ${limits.dailyMicros ?? null}::bigint, ${limits.monthlyMicros ?? null}::bigint, ${amountMicros}::bigint,
        ${now.toISOString()}::timestamptz, ${expiresAt.toISOString()}::timestamptz)`.execute(this.db);
    const row = rows[0]!;
    return reserveResult(reservation, row.exhausted, limits, now, {
      daySpent: Number(row.day_spent),
      dayReserved: Number(row.day_reserved),
      monthSpent: Number(row.month_spent),
      monthReserved: Number(row.month_reserved),
    });
  }

  async settle(reservation: Reservation, actualMicros: number): Promise<void> {
    assertMicros('actualMicros', actualMicros);
    await sql`
      select ai_budget_settle(
        ${reservation.tenantId}::text, ${reservation.id}::text, ${reservation.dayKey}::text,
        ${reservation.monthKey}::text, ${actualMicros}::bigint)`.execute(this.db);
  }

  async status(tenantId: string, limits: BudgetLimits, now: Date = new Date()): Promise<WindowUsage[]> {
    const keys = windowKeys(now);
    const rows = await this.db
      .selectFrom('ai_budget_windows')
      .select(['window_key', 'spent_micros', 'reserved_micros'])
      .where('tenant_id', '=', tenantId)
      .where('window_key', 'in', [keys.day, keys.month])
      .execute();
    const day = rows.find((r) => r.window_key === keys.day);
    const month = rows.find((r) => r.window_key === keys.month);
    return windowUsage(limits, now, {
      daySpent: Number(day?.spent_micros ?? 0),
      dayReserved: Number(day?.reserved_micros ?? 0),
      monthSpent: Number(month?.spent_micros ?? 0),
      monthReserved: Number(month?.reserved_micros ?? 0),
    });
  }

  async close(): Promise<void> {
    /* the store belongs to whoever opened it */
  }
}
