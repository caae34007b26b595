/**
 * The monthly cost-allocation report as CSV (RFC 4180, one line per tenant and resource),
 * for spreadsheets and finance tools; the JSON form is {@link CostReport} itself.
 */
import { stringify } from 'csv-stringify/sync';
import type { CostReport } from './usage-store.js';

/** CSV columns, in order. */
export const REPORT_COLUMNS = [
  'month',
  'tenant_id',
  'plan',
  'resource',
  'unit',
  'quantity',
  'unit_price_usd',
  'cost_usd',
] as const;

/** Render a report as CSV with a header line. */
export function reportCsv(report: CostReport): string {
  const rows = report.tenants.flatMap((t) =>
    t.lines.map((l) => [report.month, t.tenantId, t.plan, l.resource, l.unit, l.quantity, l.unitPriceUsd, l.costUsd]),
  );
  return stringify(rows, { header: true, columns: [...REPORT_COLUMNS], cast: { number: (n) => String(n) } });
}
