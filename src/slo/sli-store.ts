/**
 * SLI events, aggregated. Recording is a map update in memory, per tenant, source and
 * minute (no store round trip on the request path); every few seconds the aggregates are
 * added, in one statement per resolution, to the minute, hour and day buckets. Histograms are
 * stored cumulative (element i counts the events at or under bound i), so "events within
 * 300 ms over 30 days" is one array element summed over at most 31 rows.
 */
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../schema.js';
import { addInto, BUCKETS, bucketOf, emptyHistogram } from '../contract/latency-histogram.js';
import type { SliSource } from './slo-schema.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** How long each resolution is kept. */
export const RETENTION_MS = {
  sli_minutes: 3 * DAY_MS + HOUR_MS,
  sli_hours: 8 * DAY_MS,
  sli_days: 91 * DAY_MS,
} as const;

/** One event. */
export interface SliEvent {
  ok: boolean;
  latencyMs: number;
  /** What the event cost, in micro-dollars (model calls). */
  costMicros?: number;
  /** When it happened (epoch ms); default now. */
  at?: number;
}

/** Events of one tenant, source and minute, summed. */
export interface SliAggregate {
  tenantId: string;
  source: SliSource;
  minute: number;
  total: number;
  errors: number;
  /** Plain (not cumulative) histograms. */
  latency: number[];
  cost: number[];
  costMicros: number;
}

function cumulative(h: readonly number[]): number[] {
  const out = new Array<number>(BUCKETS).fill(0);
  let n = 0;
  for (let i = 0; i < BUCKETS; i++) {
    n += h[i] ?? 0;
    out[i] = n;
  }
  return out;
}

/** Adds SLI aggregates to the buckets and reads them back. */
export class SliStore {
  readonly #pending = new Map<string, SliAggregate>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  /** Aggregates dropped because the buffer was full (the store could not keep up). */
  dropped = 0;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly options: { flushIntervalMs?: number; maxPending?: number; onError?: (e: unknown) => void } = {},
  ) {}

  /** Record one event (a map update; flushed within seconds). */
  record(tenantId: string, source: SliSource, event: SliEvent): void {
    const at = event.at ?? Date.now();
    const minute = at - (at % MINUTE_MS);
    const key = `${tenantId}\u0000${source}\u0000${minute}`;
    let agg = this.#pending.get(key);
    if (!agg) {
      if (this.#pending.size >= (this.options.maxPending ?? 100_000)) {
        this.dropped += 1;
        return;
      }
      agg = {
        tenantId,
        source,
        minute,
        total: 0,
        errors: 0,
        latency: emptyHistogram(),
        cost: emptyHistogram(),
        costMicros: 0,
      };
      this.#pending.set(key, agg);
    }
    agg.total += 1;
    if (!event.ok) agg.errors += 1;
    agg.latency[bucketOf(Math.max(0, event.latencyMs))]! += 1;
    if (event.costMicros !== undefined) {
      agg.cost[bucketOf(Math.max(0, event.costMicros))]! += 1;
      agg.costMicros += event.costMicros;
    }
    this.#schedule();
  }

  /** Add already aggregated buckets (from an SDK's flush or a batch of external events). */
  add(aggregates: readonly SliAggregate[]): void {
    for (const a of aggregates) {
      const key = `${a.tenantId}\u0000${a.source}\u0000${a.minute}`;
      const agg = this.#pending.get(key);
      if (!agg) {
        if (this.#pending.size >= (this.options.maxPending ?? 100_000)) {
          this.dropped += 1;
          continue;
        }
        this.#pending.set(key, { ...a, latency: [...a.latency], cost: [...a.cost] });
      } else {
        agg.total += a.total;
        agg.errors += a.errors;
        addInto(agg.latency, a.latency);
        addInto(agg.cost, a.cost);
        agg.costMicros += a.costMicros;
      }
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush().catch((e) => this.options.onError?.(e));
    }, this.options.flushIntervalMs ?? 5_000);
    this.#timer.unref?.();
  }

  /** Write what is buffered now (also awaited by tests and at shutdown). */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const batch = [...this.#pending.values()];
      this.#pending.clear();
      try {
        await this.#write(batch);
      } catch (error) {
        // Put them back (added to anything recorded meanwhile) for the next flush.
        this.add(batch);
        throw error;
      }
    });
    return this.#flushing;
  }

  async #write(batch: readonly SliAggregate[]): Promise<void> {
    const resolutions: Array<[keyof typeof RETENTION_MS, number]> = [
      ['sli_minutes', MINUTE_MS],
      ['sli_hours', HOUR_MS],
      ['sli_days', DAY_MS],
    ];
    await this.db.transaction().execute(async (trx) => {
      for (const [table, size] of resolutions) {
        const rows = new Map<string, SliAggregate>();
        for (const a of batch) {
          const bucket = a.minute - (a.minute % size);
          const key = `${a.tenantId}\u0000${a.source}\u0000${bucket}`;
          const row = rows.get(key);
          if (row) {
            row.total += a.total;
            row.errors += a.errors;
            addInto(row.latency, a.latency);
            addInto(row.cost, a.cost);
            row.costMicros += a.costMicros;
          } else rows.set(key, { ...a, minute: bucket, latency: [...a.latency], cost: [...a.cost] });
        }
        // Sorted, so concurrent flushes of two replicas take row locks in the same order.
        const json = JSON.stringify(
          [...rows.values()]
            .sort(
              (x, y) => x.tenantId.localeCompare(y.tenantId) || x.minute - y.minute || x.source.localeCompare(y.source),
            )
            .map((r) => ({
              tenant_id: r.tenantId,
              source: r.source,
              bucket: new Date(r.minute).toISOString(),
              total: r.total,
              errors: r.errors,
              latency: cumulative(r.latency),
              cost: cumulative(r.cost),
              cost_micros: Math.round(r.costMicros),
            })),
        );
        await sql`
          insert into ${sql.table(table)} as t (tenant_id, source, bucket, total, errors, latency, cost, cost_micros)
          select tenant_id, source, bucket, total, errors, latency, cost, cost_micros
            from jsonb_to_recordset(${json}::jsonb) as r(tenant_id text, source text, bucket timestamptz, total bigint,
                 errors bigint, latency integer[], cost integer[], cost_micros bigint)
          on conflict (tenant_id, bucket, source) do update set
            total = t.total + excluded.total,
            errors = t.errors + excluded.errors,
            latency = array(select a + b from unnest(t.latency, excluded.latency) with ordinality as u(a, b, i) order by i),
            cost = array(select a + b from unnest(t.cost, excluded.cost) with ordinality as u(a, b, i) order by i),
            cost_micros = t.cost_micros + excluded.cost_micros`.execute(trx);
      }
    });
  }

  /** Delete buckets older than their resolution keeps. */
  async sweep(now = Date.now()): Promise<number> {
    let n = 0;
    for (const [table, keep] of Object.entries(RETENTION_MS) as Array<[keyof typeof RETENTION_MS, number]>) {
      const r = await this.db
        .deleteFrom(table)
        .where('bucket', '<', new Date(now - keep))
        .executeTakeFirst();
      n += Number(r.numDeletedRows);
    }
    return n;
  }

  /** Forget a tenant's buckets (its purge). */
  async purgeTenant(tenantId: string): Promise<void> {
    for (const table of ['sli_minutes', 'sli_hours', 'sli_days'] as const)
      await this.db.deleteFrom(table).where('tenant_id', '=', tenantId).execute();
  }

  /** Stop the timer and write what is left. */
  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush().catch((e) => this.options.onError?.(e));
  }
}
