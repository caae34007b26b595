/** (placeholder until the ledger lands; replaced by the ledger branch) */
export interface BudgetLimits {
  dailyMicros?: number | undefined;
  monthlyMicros?: number | undefined;
}
export interface WindowUsage {
  window: 'day' | 'month';
  key: string;
  limitMicros: number | null;
  spentMicros: number;
  reservedMicros: number;
  resetsAt: Date;
}
export interface Reservation {
  id: string;
  tenantId: string;
  dayKey: string;
  monthKey: string;
  amountMicros: number;
}
export type ReserveResult =
  | { ok: true; reservation: Reservation; windows: WindowUsage[] }
  | { ok: false; exhausted: WindowUsage; windows: WindowUsage[] };
export interface BudgetLedger {
  reserve(
    tenantId: string,
    limits: BudgetLimits,
    amountMicros: number,
    options?: { now?: Date; ttlMs?: number },
  ): Promise<ReserveResult>;
  settle(reservation: Reservation, actualMicros: number): Promise<void>;
  status(tenantId: string, limits: BudgetLimits, now?: Date): Promise<WindowUsage[]>;
  close(): Promise<void>;
}
