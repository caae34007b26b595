/**
 * What the usage store answers: an ingestion's result, usage series, and the monthly
 * cost-allocation report.
 */

/** What one ingestion did. */
export interface IngestResult {
  /** Meters stored now. */
  accepted: number;
  /** Meters whose id the tenant had already recorded (ignored). */
  duplicates: number;
}

/** One bucket of a usage series. */
export interface UsagePoint {
  resource: string;
  /** Start of the UTC hour or day. */
  start: string;
  amount: number;
  /** How many meters made it up. */
  events: number;
  /** The largest single meter in the bucket (for gauges: the peak sample). */
  max: number;
}

/** A usage query. */
export interface UsageQuery {
  from: Date;
  to: Date;
  granularity: 'hour' | 'day';
  resource?: string | undefined;
}

/** One line of a cost-allocation report. */
export interface CostLine {
  resource: string;
  unit: string;
  quantity: number;
  unitPriceUsd: number;
  costUsd: number;
}

/** One tenant's part of a monthly report. */
export interface TenantCost {
  tenantId: string;
  plan: string;
  lines: CostLine[];
  totalUsd: number;
}

/** The monthly cost-allocation report. */
export interface CostReport {
  month: string;
  currency: 'USD';
  generatedAt: string;
  /** Whether the month is still running (the figures will grow). */
  partial: boolean;
  tenants: TenantCost[];
  totalUsd: number;
}
