/**
 * What a meter is: `{tenantId, id, resource, amount, ts}`. Resources are named by the
 * recorder (`requests`, `jobs`, `cost_usd`, or an app's own such as `tokens_in`); a few are
 * gauges the control plane samples itself (bytes stored), which callers may not send.
 */
import { z } from 'zod';
import { tenantIdSchema } from '../tenants/index.js';

/** A resource name: lowercase, digits and `_`, starting with a letter. */
export const RESOURCE_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
/** A meter id: the recorder's idempotency key, unique per tenant. */
export const METER_ID_PATTERN = /^[A-Za-z0-9._:~-]{1,200}$/;

/** Requests served by an app through the SDK (one per admitted request). */
export const REQUESTS = 'requests';
/** Control-plane jobs a tenant ran (archive, restore, move). */
export const JOBS = 'jobs';
/** Money a recorder already priced (e.g. model spend), in US dollars. */
export const COST_USD = 'cost_usd';
/** Bytes of objects written through Tenancy's object handles, sampled hourly. */
export const OBJECT_BYTES = 'object_bytes';
/** Bytes of the tenant's database tables, sampled hourly. */
export const DATABASE_BYTES = 'database_bytes';

/**
 * Gauges: one sample per tenant and hour, taken by the control plane. Their hourly sums
 * are byte-hours, priced per GB-month; callers cannot send them.
 */
export const GAUGES: ReadonlySet<string> = new Set([OBJECT_BYTES, DATABASE_BYTES]);

/** Largest batch one ingestion call accepts. */
export const MAX_BATCH = 1000;
/** How old a meter may be when it arrives (its raw event must still be kept to detect a repeat). */
export const DEFAULT_RAW_RETENTION_DAYS = 35;
/** How far ahead of the control plane's clock a meter may be stamped. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** One meter as recorded. */
export interface Meter {
  tenantId: string;
  id: string;
  resource: string;
  amount: number;
  ts: string;
}

const amountSchema = z
  .number({ error: 'must be a number' })
  .min(0, 'must be >= 0')
  .max(1e15, 'must be <= 1e15')
  .refine((n) => Number.isFinite(n), 'must be finite');
const tsSchema = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 date-time' });
const meterFields = {
  id: z
    .string({ error: 'must be a string' })
    .regex(METER_ID_PATTERN, 'must be 1..200 characters of A-Z a-z 0-9 . _ : ~ -'),
  resource: z
    .string({ error: 'must be a string' })
    .regex(RESOURCE_PATTERN, 'must be lowercase letters, digits and _, starting with a letter (at most 63)')
    .refine((r) => !GAUGES.has(r), 'is sampled by the control plane and cannot be recorded'),
  amount: amountSchema,
  ts: tsSchema,
};

/** `POST /v1/tenants/{id}/usage`: meters of the tenant in the path. */
export const tenantUsageBatchSchema = z
  .strictObject({
    meters: z
      .array(z.strictObject(meterFields))
      .min(1, 'must hold at least one meter')
      .max(MAX_BATCH, `must hold at most ${MAX_BATCH} meters`),
  })
  .meta({ id: 'TenantUsageBatch' });

/** `POST /v1/usage`: meters of any tenants (a platform recorder such as the SDK). */
export const usageBatchSchema = z
  .strictObject({
    meters: z
      .array(z.strictObject({ tenantId: tenantIdSchema, ...meterFields }))
      .min(1, 'must hold at least one meter')
      .max(MAX_BATCH, `must hold at most ${MAX_BATCH} meters`),
  })
  .meta({ id: 'UsageBatch' });

/** Start of the UTC hour or day that holds `ms`. */
export function bucketStart(ms: number, granularity: 'hour' | 'day'): number {
  const unit = granularity === 'hour' ? 3_600_000 : 86_400_000;
  return Math.floor(ms / unit) * unit;
}

/** `YYYY-MM` of a time (UTC). */
export function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/** First instant of a `YYYY-MM` month and of the next one (UTC). */
export function monthRange(month: string): { from: Date; to: Date; hours: number } {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const from = new Date(Date.UTC(y, m - 1, 1));
  const to = new Date(Date.UTC(y, m, 1));
  return { from, to, hours: (to.getTime() - from.getTime()) / 3_600_000 };
}
