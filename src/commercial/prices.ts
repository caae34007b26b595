/**
 * The price table for cost allocation: US dollars per unit of each resource, with
 * per-plan overrides. Counters are priced per unit (per request, per job); gauges per
 * GB-month (10^9 bytes held for a whole month); `cost_usd` is already money and is always
 * taken at face value. A resource without a price costs nothing but is still reported.
 *
 * Configured with `TENANCY_USAGE_PRICES`, e.g.
 * `{"requests": 0.000002, "object_bytes": 0.023, "plans": {"enterprise": {"requests": 0.000001}}}`.
 */
import { z } from 'zod';
import { TenancyError } from '../errors.js';
import { COST_USD, GAUGES, RESOURCE_PATTERN } from './meters.js';

/** Dollars per unit (counters) or per GB-month (gauges), by resource. */
export type PriceList = Record<string, number>;

/** The whole table: defaults and per-plan overrides. */
export interface PriceTable {
  defaults: PriceList;
  plans: Record<string, PriceList>;
}

const price = z.number({ error: 'must be a number' }).min(0, 'must be >= 0').max(1e9, 'must be <= 1e9');
const priceList = z.record(z.string().regex(RESOURCE_PATTERN, 'must be a resource name'), price);
const tableSchema = z.looseObject({
  plans: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be a plan name'), priceList).optional(),
});

/** Parse `TENANCY_USAGE_PRICES`; throws `invalid_config` naming the field. */
export function parsePriceTable(text: string | undefined): PriceTable {
  if (text === undefined || text.trim() === '') return { defaults: {}, plans: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new TenancyError(
      'invalid_config',
      `invalid configuration: TENANCY_USAGE_PRICES is not JSON: ${(cause as Error).message}`,
      { cause },
    );
  }
  const fail = (issue: z.core.$ZodIssue): never => {
    const message =
      issue.code === 'invalid_key'
        ? 'is not a resource name (lowercase letters, digits and _) or plan name'
        : issue.path.length === 0
          ? 'must be a JSON object'
          : issue.message;
    throw new TenancyError(
      'invalid_config',
      `invalid configuration: TENANCY_USAGE_PRICES /${issue.path.join('/')} ${message}`,
    );
  };
  const parsed = tableSchema.safeParse(raw);
  if (!parsed.success) return fail(parsed.error.issues[0]!);
  const { plans = {}, ...rest } = parsed.data;
  const defaults = priceList.safeParse(rest);
  if (!defaults.success) return fail(defaults.error.issues[0]!);
  return { defaults: defaults.data, plans };
}

/** The unit a resource is priced and reported in. */
export function unitOf(resource: string): string {
  if (resource === COST_USD) return 'USD';
  if (GAUGES.has(resource)) return 'GB-month';
  return resource === 'requests' ? 'request' : resource === 'jobs' ? 'job' : 'unit';
}

/** Dollars per unit of `resource` for a tenant on `plan`. */
export function unitPrice(table: PriceTable, plan: string, resource: string): number {
  if (resource === COST_USD) return 1;
  return table.plans[plan]?.[resource] ?? table.defaults[resource] ?? 0;
}

/**
 * The billable quantity of a month's rollup sum: counters as summed; gauges from
 * byte-hours to GB-months (one sample per hour, so the sum over a month divided by the
 * month's hours is the average held).
 */
export function quantityOf(resource: string, sum: number, monthHours: number): number {
  return GAUGES.has(resource) ? sum / 1e9 / monthHours : sum;
}

/** Round to whole micro-dollars, the precision reports carry. */
export function roundUsd(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
