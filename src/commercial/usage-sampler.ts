/**
 * What the control plane meters itself, on a timer: jobs its tenants ran (one `jobs` meter
 * per finished job), and storage as gauges, one sample per tenant and hour
 * (`object_bytes` from the object handles' exact sizes, `database_bytes` measured in the
 * tenant's database). Meter ids are derived from what they count (`job:<id>`,
 * `object_bytes:<hour>`), so a pass that runs twice, on two replicas or after a crash,
 * records nothing twice. It also prunes raw meters past their retention.
 */
import type { Kysely } from 'kysely';
import type { Actor } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { DATABASE_BYTES, JOBS, OBJECT_BYTES, MAX_BATCH, bucketStart, type Meter } from './meters.js';
import type { QuotaStore } from './quota-store.js';
import type { UsageStore } from './usage-store.js';
import { tenantsWhere } from '../tenants/index.js';

/** Options for {@link UsageSampler}. */
export interface UsageSamplerOptions {
  /** Time between passes (default 5 minutes). */
  intervalMs?: number;
  /** Bytes of a tenant's database tables; undefined when it cannot be measured now. */
  databaseBytes?: (tenantId: string) => Promise<number | undefined>;
  /** Jobs that finished since a time, of tenants that are not deleted (the control plane's job store). */
  finishedJobs?: (since: Date) => Promise<Array<{ id: string; tenantId: string; finishedAt: string }>>;
  onError?: (error: unknown) => void;
}

const ACTOR: Actor = { id: 'system:usage-sampler', correlationId: null };

/** The control plane's own meter recorder. */
export class UsageSampler {
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly usage: UsageStore,
    private readonly quotas: QuotaStore,
    private readonly options: UsageSamplerOptions = {},
  ) {
    this.#intervalMs = options.intervalMs ?? 300_000;
  }

  /** Run a pass now and then every interval. */
  start(): void {
    if (this.#timer) return;
    const tick = () => {
      this.#running = this.runOnce().catch((error: unknown) => this.options.onError?.(error));
    };
    this.#timer = setInterval(tick, this.#intervalMs);
    this.#timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One pass: jobs, storage samples, pruning. Returns how many meters were new. */
  async runOnce(now = Date.now()): Promise<{ jobs: number; samples: number; pruned: number }> {
    const since = new Date(
      now - Math.min(this.usage.rawRetentionDays * 86_400_000 - 3_600_000, Math.max(2 * this.#intervalMs, 86_400_000)),
    );
    const jobs = (await this.options.finishedJobs?.(since)) ?? [];
    const jobMeters: Meter[] = jobs.map((j) => ({
      tenantId: j.tenantId,
      id: `job:${j.id}`,
      resource: JOBS,
      amount: 1,
      ts: j.finishedAt,
    }));
    let jobsNew = 0;
    for (let i = 0; i < jobMeters.length; i += MAX_BATCH)
      jobsNew += (await this.usage.record(ACTOR, jobMeters.slice(i, i + MAX_BATCH), 'control-plane')).accepted;

    const hour = new Date(bucketStart(now, 'hour')).toISOString();
    const tenants = await tenantsWhere(this.db, { phases: ['active', 'suspended'] });
    const samples: Meter[] = [];
    for (const { id } of tenants) {
      samples.push({
        tenantId: id,
        id: `${OBJECT_BYTES}:${hour}`,
        resource: OBJECT_BYTES,
        amount: await this.quotas.objectBytes(id),
        ts: hour,
      });
      const bytes = await this.options.databaseBytes?.(id).catch((error: unknown) => {
        this.options.onError?.(error);
        return undefined;
      });
      if (bytes !== undefined)
        samples.push({
          tenantId: id,
          id: `${DATABASE_BYTES}:${hour}`,
          resource: DATABASE_BYTES,
          amount: bytes,
          ts: hour,
        });
    }
    let samplesNew = 0;
    for (let i = 0; i < samples.length; i += MAX_BATCH)
      samplesNew += (await this.usage.record(ACTOR, samples.slice(i, i + MAX_BATCH), 'control-plane')).accepted;
    return { jobs: jobsNew, samples: samplesNew, pruned: await this.usage.prune(now) };
  }
}
