/**
 * Meters and their rollups. Ingestion is one statement per batch: the raw events are
 * inserted (a meter whose id the tenant already recorded is ignored), and only the rows
 * that were new are added to the hourly and daily rollups, so a repeat can never count
 * twice and concurrent writers add to the same bucket without losing an update (the
 * upsert locks the bucket row). Each accepted batch is audited per tenant in the same
 * transaction; a monthly cost that goes over `maxCostPerMonthUsd` raises one
 * `quota.exceeded` event per month (and again if the cap is changed and crossed again).
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { TenancyError, validationError, type FieldError } from '../errors.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import { json } from '../infra/sql/index.js';
import type { Schema } from '../schema.js';
import { effectiveQuotas, tenantsWhere, type TenantSpec } from '../tenants/index.js';
import {
  COST_USD,
  DEFAULT_RAW_RETENTION_DAYS,
  GAUGES,
  MAX_CLOCK_SKEW_MS,
  monthOf,
  monthRange,
  type Meter,
} from './meters.js';
import { quantityOf, roundUsd, unitOf, unitPrice, type PriceTable } from './prices.js';
import type { CostReport, IngestResult, TenantCost, UsagePoint, UsageQuery } from './usage-types.js';

export type { CostLine, CostReport, IngestResult, TenantCost, UsagePoint, UsageQuery } from './usage-types.js';

/** Options for {@link UsageStore}. */
export interface UsageStoreOptions {
  prices: PriceTable;
  /** Days raw meters are kept (and how late a meter may arrive); rollups are kept for good. */
  rawRetentionDays?: number;
}

const num = (v: unknown): number => Number(v ?? 0);
const RETRYABLE = new Set(['40P01', '40001']);

/** Meters, rollups, the monthly report and monthly cost. */
export class UsageStore {
  readonly prices: PriceTable;
  readonly rawRetentionDays: number;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    options: UsageStoreOptions,
  ) {
    this.prices = options.prices;
    this.rawRetentionDays = options.rawRetentionDays ?? DEFAULT_RAW_RETENTION_DAYS;
  }

  /**
   * Record a batch (validated for shape by the caller). Refuses the whole batch, changing
   * nothing, when a tenant is unknown or purged, or a meter is stamped outside the window
   * the raw log keeps. `pointer` maps a meter's index to its JSON pointer for errors.
   */
  async record(
    actor: Actor,
    meters: Meter[],
    source: string,
    pointer: (i: number) => string = (i) => `/meters/${i}`,
  ): Promise<IngestResult> {
    if (meters.length === 0) return { accepted: 0, duplicates: 0 };
    const now = Date.now();
    const oldest = now - this.rawRetentionDays * 86_400_000;
    const errors: FieldError[] = [];
    meters.forEach((m, i) => {
      const t = Date.parse(m.ts);
      if (t < oldest)
        errors.push({ path: `${pointer(i)}/ts`, message: `must be within the last ${this.rawRetentionDays} days` });
      else if (t > now + MAX_CLOCK_SKEW_MS)
        errors.push({ path: `${pointer(i)}/ts`, message: 'must not be more than 5 minutes in the future' });
    });
    if (errors.length > 0)
      throw validationError('some meters are stamped outside the accepted window', errors, 'invalid_usage');
    const tenantIds = [...new Set(meters.map((m) => m.tenantId))];
    const tenants = await tenantsWhere(this.db, { ids: tenantIds });
    const known = new Map(tenants.map((t) => [t.id, t]));
    meters.forEach((m, i) => {
      const t = known.get(m.tenantId);
      if (!t) errors.push({ path: `${pointer(i)}/tenantId`, message: `tenant ${m.tenantId} not found` });
      else if (t.phase === 'deleted')
        errors.push({ path: `${pointer(i)}/tenantId`, message: `tenant ${m.tenantId} is deleted` });
    });
    if (errors.length > 0) {
      const missing = errors.some((e) => e.message.endsWith('not found'));
      throw new TenancyError(
        missing ? 'tenant_not_found' : 'tenant_deleted',
        missing ? 'the batch names a tenant that does not exist' : 'the batch names a deleted tenant',
        { status: missing ? 404 : 409, errors: errors.slice(0, 100) },
      );
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          const rows = await this.#ingest(trx, meters, source);
          const perTenant = new Map<string, { accepted: number; resources: Set<string> }>();
          for (const r of rows) {
            const e = perTenant.get(r.tenant_id) ?? { accepted: 0, resources: new Set<string>() };
            e.accepted += num(r.accepted);
            e.resources.add(r.resource);
            perTenant.set(r.tenant_id, e);
          }
          const submitted = new Map<string, number>();
          for (const m of meters) submitted.set(m.tenantId, (submitted.get(m.tenantId) ?? 0) + 1);
          for (const [tenantId, n] of submitted) {
            const e = perTenant.get(tenantId);
            await this.audit.append(trx, actor, {
              action: 'usage.record',
              target: `tenant/${tenantId}/usage`,
              tenantId,
              outcome: 'success',
              details: {
                source,
                submitted: n,
                accepted: e?.accepted ?? 0,
                duplicates: n - (e?.accepted ?? 0),
                resources: [...(e?.resources ?? [])].sort(),
              },
            });
          }
          const priced = [...perTenant].filter(([, e]) =>
            [...e.resources].some(
              (r) =>
                r === COST_USD ||
                this.prices.defaults[r] !== undefined ||
                Object.values(this.prices.plans).some((p) => p[r] !== undefined),
            ),
          );
          if (priced.length > 0)
            await this.#alertCosts(
              trx,
              actor,
              priced.map(([id]) => id),
              known,
              now,
            );
          const accepted = rows.reduce((s, r) => s + num(r.accepted), 0);
          return { accepted, duplicates: meters.length - accepted };
        });
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt < 4 && code !== undefined && RETRYABLE.has(code)) continue;
        throw error;
      }
    }
  }

  /** The insert-and-roll-up statement; returns what was new per tenant and resource. */
  async #ingest(
    trx: Transaction<Schema>,
    meters: Meter[],
    source: string,
  ): Promise<Array<{ tenant_id: string; resource: string; accepted: number }>> {
    // Sorted so concurrent batches lock rollup rows in the same order (no deadlock cycles).
    const input = meters.map((m) => ({
      tenant_id: m.tenantId,
      id: m.id,
      resource: m.resource,
      amount: String(m.amount),
      ts: m.ts,
    }));
    const result = await sql<{ tenant_id: string; resource: string; accepted: number }>`
      with input as (
        select distinct on (tenant_id, id) tenant_id, id, resource, amount, ts
        from jsonb_to_recordset(${json(input)}) as x(tenant_id text, id text, resource text, amount numeric, ts timestamptz)
        order by tenant_id, id
      ),
      ins as (
        insert into usage_events (tenant_id, id, resource, amount, ts, source, recorded_at)
        select tenant_id, id, resource, amount, ts, ${source}, now() from input
        on conflict (tenant_id, id) do nothing
        returning tenant_id, resource, amount, ts
      ),
      hours as (
        ${rollupInsert('hour')}
      ),
      days as (
        ${rollupInsert('day')}
      )
      select tenant_id, resource, count(*)::int as accepted from ins group by tenant_id, resource`.execute(trx);
    return result.rows;
  }

  /** Raise this month's cost alert once per tenant, with its event, for tenants now over their limit. */
  async #alertCosts(
    trx: Transaction<Schema>,
    actor: Actor,
    tenantIds: string[],
    tenants: Map<string, { spec: unknown }>,
    now: number,
  ): Promise<void> {
    const month = monthOf(now);
    const sums = await this.#monthSums(trx, month, tenantIds);
    for (const tenantId of tenantIds) {
      const spec = tenants.get(tenantId)!.spec as TenantSpec;
      const limit = effectiveQuotas(spec).maxCostPerMonthUsd;
      const current = costOf(
        new Map([[tenantId, sums.get(tenantId) ?? new Map()]]),
        (r) => unitPrice(this.prices, spec.plan, r),
        monthRange(month).hours,
      );
      if (!costExceeded(current, limit)) continue;
      const inserted = await trx
        .insertInto('quota_alerts')
        .values({
          tenant_id: tenantId,
          quota: 'maxCostPerMonthUsd',
          period: month,
          limit_value: limit,
          current_value: current,
          raised_at: new Date(now).toISOString(),
        })
        // Once per month and limit: a cap raised within the month and crossed again alerts again.
        .onConflict((oc) =>
          oc
            .columns(['tenant_id', 'quota', 'period'])
            .doUpdateSet({ limit_value: limit, current_value: current, raised_at: new Date(now).toISOString() })
            .where(sql<boolean>`quota_alerts.limit_value <> ${limit}`),
        )
        .returning('tenant_id')
        .executeTakeFirst();
      if (!inserted) continue;
      const details = { quota: 'maxCostPerMonthUsd', limit, current, period: month };
      await this.audit.recordChange(trx, {
        actor,
        action: 'quota.exceeded',
        target: `tenant/${tenantId}/quotas/maxCostPerMonthUsd`,
        tenantId,
        outcome: 'success',
        details,
        event: { type: 'quota.exceeded', tenantId, payload: { tenantId, ...details } },
      });
    }
  }

  /** A tenant's usage series in `[from, to)`. */
  async series(tenantId: string, q: UsageQuery): Promise<UsagePoint[]> {
    let query = this.db
      .selectFrom('usage_rollups')
      .select(['resource', 'bucket_start', 'amount', 'events', 'max_amount'])
      .where('tenant_id', '=', tenantId)
      .where('granularity', '=', q.granularity)
      .where('bucket_start', '>=', q.from)
      .where('bucket_start', '<', q.to);
    if (q.resource !== undefined) query = query.where('resource', '=', q.resource);
    const rows = await query.orderBy('bucket_start').orderBy('resource').execute();
    return rows.map((r) => ({
      resource: r.resource,
      start: new Date(r.bucket_start).toISOString(),
      amount: num(r.amount),
      events: num(r.events),
      max: num(r.max_amount),
    }));
  }

  /** Sums of one month per tenant and resource (from the daily rollups). */
  async #monthSums(
    exec: Kysely<Schema>,
    month: string,
    tenantId?: string | string[],
  ): Promise<Map<string, Map<string, number>>> {
    const { from, to } = monthRange(month);
    let q = exec
      .selectFrom('usage_rollups')
      .select(['tenant_id', 'resource', (eb) => eb.fn.sum<string>('amount').as('amount')])
      .where('granularity', '=', 'day')
      .where('bucket_start', '>=', from)
      .where('bucket_start', '<', to);
    if (Array.isArray(tenantId)) q = q.where('tenant_id', 'in', tenantId);
    else if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    const rows = await q.groupBy(['tenant_id', 'resource']).execute();
    const out = new Map<string, Map<string, number>>();
    for (const r of rows) {
      const m = out.get(r.tenant_id) ?? new Map<string, number>();
      m.set(r.resource, num(r.amount));
      out.set(r.tenant_id, m);
    }
    return typeof tenantId === 'string' ? new Map([[tenantId, out.get(tenantId) ?? new Map()]]) : out;
  }

  /** The tenant's cost so far in `month` (default: the current one), in dollars. */
  async monthCost(tenantId: string, plan: string, month = monthOf(Date.now())): Promise<number> {
    const sums = (await this.#monthSums(this.db, month, tenantId)).get(tenantId)!;
    return costOf(new Map([[tenantId, sums]]), (r) => unitPrice(this.prices, plan, r), monthRange(month).hours);
  }

  /**
   * The cost-allocation report of `month`: every tenant with usage in it (or one tenant),
   * each resource priced at the tenant's current plan.
   */
  async report(month: string, tenantId?: string): Promise<CostReport> {
    const sums = await this.#monthSums(this.db, month, tenantId);
    const ids = [...sums.keys()].sort();
    const plans = ids.length === 0 ? [] : await tenantsWhere(this.db, { ids });
    const planOf = new Map(plans.map((p) => [p.id, p.plan]));
    const { hours, to } = monthRange(month);
    const tenants: TenantCost[] = ids.map((id) => {
      const plan = planOf.get(id) ?? 'unknown';
      const lines = [...sums.get(id)!]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([resource, sum]) => {
          const quantity = quantityOf(resource, sum, hours);
          const price = unitPrice(this.prices, plan, resource);
          return {
            resource,
            unit: unitOf(resource),
            quantity: GAUGES.has(resource) ? Math.round(quantity * 1e9) / 1e9 : quantity,
            unitPriceUsd: price,
            costUsd: roundUsd(quantity * price),
          };
        });
      return { tenantId: id, plan, lines, totalUsd: roundUsd(lines.reduce((s, l) => s + l.costUsd, 0)) };
    });
    return {
      month,
      currency: 'USD',
      generatedAt: new Date().toISOString(),
      partial: Date.now() < to.getTime(),
      tenants,
      totalUsd: roundUsd(tenants.reduce((s, t) => s + t.totalUsd, 0)),
    };
  }

  /** Delete raw meters older than the retention (their rollups stay); returns how many. */
  async prune(now = Date.now()): Promise<number> {
    const cutoff = new Date(now - this.rawRetentionDays * 86_400_000);
    const r = await this.db.deleteFrom('usage_events').where('ts', '<', cutoff).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

/** Dollars for one tenant's month sums. */
function costOf(
  sums: Map<string, Map<string, number>>,
  price: (resource: string) => number,
  monthHours: number,
): number {
  let total = 0;
  for (const perResource of sums.values())
    for (const [resource, sum] of perResource)
      total += roundUsd(quantityOf(resource, sum, monthHours) * price(resource));
  return roundUsd(total);
}

/**
 * Whether a monthly cost is over its limit: at or above a positive limit; any cost at
 * all when the limit is 0 (a plan that may not spend).
 */
export function costExceeded(current: number, limit: number): boolean {
  return current > 0 && current >= limit;
}

/**
 * The upsert that adds the rows new in the `ins` CTE to the `granularity` rollups: one
 * statement for hours and days alike, locking bucket rows in one order.
 */
function rollupInsert(granularity: 'hour' | 'day') {
  const g = sql.raw(`'${granularity}'`);
  return sql`insert into usage_rollups (tenant_id, granularity, bucket_start, resource, amount, events, max_amount, updated_at)
        select tenant_id, ${g}, date_trunc(${g}, ts, 'UTC'), resource, sum(amount), count(*), max(amount), now()
        from ins group by tenant_id, date_trunc(${g}, ts, 'UTC'), resource
        order by tenant_id, 3, resource
        on conflict (tenant_id, granularity, bucket_start, resource) do update
          set amount = usage_rollups.amount + excluded.amount, events = usage_rollups.events + excluded.events,
              max_amount = greatest(usage_rollups.max_amount, excluded.max_amount), updated_at = excluded.updated_at
        returning 1`;
}
