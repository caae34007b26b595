/**
 * Rolling the app's migrations out across tenants: a run is a job that goes through the
 * tenants in waves (for example 10%, 50%, 100%), each wave with bounded concurrency, and
 * stops at the end of the first wave in which a tenant failed, reporting every tenant's
 * status. Tenants are ordered by a hash of their id, so the first wave is a stable sample
 * rather than the oldest tenants. A tenant whose recorded version is already at the target
 * is skipped without touching its database, so a no-op run costs one query. A run
 * interrupted by a restart is resumed (every step is idempotent).
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { TenancyError } from '../errors.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import {
  type AppliedMigration,
  appliedMigrations,
  compareVersions,
  isolationContext,
  type TenantMigrator,
} from '../isolation/index.js';
import { tenantsWhere } from '../tenants/index.js';
import type { Job, JobStore } from './jobs.js';

export const MIGRATE_JOB = 'migrate';

/** What a run is asked to do. */
export interface MigrationRunParams {
  /** Target version; default: the newest in the set. */
  to?: string | undefined;
  /** Cumulative shares of tenants per wave, ending at 100. */
  waves?: number[] | undefined;
  concurrency?: number | undefined;
  /** Only these tenants (default: every active or suspended tenant). */
  tenants?: string[] | undefined;
}

/** One tenant's outcome in a run. */
export interface TenantRunStatus {
  tenantId: string;
  wave: number;
  status: 'applied' | 'up-to-date' | 'failed' | 'not-run';
  from?: string | null;
  to?: string | null;
  applied?: string[];
  error?: string;
}

const order = (id: string) => createHash('sha256').update(id).digest('hex');

/** Starts, runs and resumes migration runs. */
export class MigrationRuns {
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly jobs: JobStore,
    private readonly migrator: TenantMigrator | undefined,
    private readonly audit: AuditLog,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** What the store records as applied to a tenant (whether or not migrations are configured now). */
  applied(tenantId: string): Promise<AppliedMigration[]> {
    return appliedMigrations(this.db, tenantId);
  }

  #migrator(): TenantMigrator {
    if (!this.migrator)
      throw new TenancyError(
        'migrations_not_configured',
        'no migration folder is configured (set TENANCY_APP_MIGRATIONS)',
      );
    return this.migrator;
  }

  /** Validate, record the job, and run it in the background. */
  async start(actor: Actor, params: MigrationRunParams): Promise<Job> {
    const migrator = this.#migrator();
    await migrator.refresh();
    const to = params.to ?? migrator.latest;
    if (to === null)
      throw new TenancyError('migrations_empty', `the migration folder ${migrator.set.dir} holds no migrations`);
    migrator.assertKnown(to);
    const resolved = {
      to,
      waves: params.waves ?? [100],
      concurrency: params.concurrency ?? 4,
      environment: migrator.environment,
      ...(params.tenants ? { tenants: params.tenants } : {}),
    };
    const job = await this.jobs.create({
      kind: MIGRATE_JOB,
      tenantId: null,
      params: resolved,
      total: 0,
      createdBy: actor.id,
    });
    await this.audit.record(actor, {
      action: 'migration.run',
      target: `job/${job.id}`,
      tenantId: null,
      outcome: 'success',
      details: resolved,
    });
    this.#launch(job);
    return job;
  }

  /** Pick up runs a stopped control plane left unfinished. */
  async resume(): Promise<void> {
    if (!this.migrator) return;
    for (const job of await this.jobs.unfinished(MIGRATE_JOB)) this.#launch(job);
  }

  /** Wait for running runs (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size) await Promise.allSettled([...this.#running]);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.idle();
  }

  #launch(job: Job): void {
    const p = this.#run(job).catch(async (error) => {
      this.onError(error);
      await this.jobs.finish(job.id, { state: 'failed', error: (error as Error).message }).catch(() => undefined);
    });
    this.#running.add(p);
    void p.finally(() => this.#running.delete(p));
  }

  async #run(job: Job): Promise<void> {
    const migrator = this.#migrator();
    const p = job.params as {
      to: string;
      waves: number[];
      concurrency: number;
      environment: string;
      tenants?: string[];
    };
    const tenants = (
      await tenantsWhere(this.db, { phases: ['active', 'suspended'], ...(p.tenants ? { ids: p.tenants } : {}) })
    )
      .map((r) => ({ id: r.id, spec: r.spec, placed: r.placedProfile, key: order(r.id) }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    const total = tenants.length;
    await this.jobs.start(job.id, total);
    const recorded = await migrator.recordedVersions(p.tenants);
    const bounds = p.waves.map((pct) => Math.ceil((pct / 100) * total));
    const statuses: TenantRunStatus[] = [];
    const waves: Array<{ percent: number; tenants: number; applied: number; upToDate: number; failed: number }> = [];
    let done = 0;
    let lastWrite = 0;
    const report = async (force = false) => {
      if (!force && Date.now() - lastWrite < 250) return;
      lastWrite = Date.now();
      await this.jobs.progress(job.id, done, total, { to: p.to, environment: p.environment, waves });
    };
    let start = 0;
    let failed = false;
    for (const [w, bound] of bounds.entries()) {
      const slice = tenants.slice(start, Math.max(start, bound));
      start = Math.max(start, bound);
      const wave = { percent: p.waves[w]!, tenants: slice.length, applied: 0, upToDate: 0, failed: 0 };
      waves.push(wave);
      if (failed || this.#stopped) {
        for (const t of slice) statuses.push({ tenantId: t.id, wave: w + 1, status: 'not-run' });
        continue;
      }
      const pending = slice.filter((t) => {
        const have = recorded.get(t.id);
        if (have !== undefined && compareVersions(have, p.to) >= 0) {
          wave.upToDate++;
          done++;
          return false;
        }
        return true;
      });
      let next = 0;
      const worker = async () => {
        while (next < pending.length && !this.#stopped) {
          const t = pending[next++]!;
          try {
            const outcome = await migrator.apply(isolationContext(t.id, t.spec, t.placed), p.to);
            if (outcome.applied.length) wave.applied++;
            else wave.upToDate++;
            statuses.push({
              tenantId: t.id,
              wave: w + 1,
              status: outcome.applied.length ? 'applied' : 'up-to-date',
              from: outcome.from,
              to: outcome.to,
              applied: outcome.applied,
            });
          } catch (error) {
            wave.failed++;
            const ext = (error as { extensions?: { from?: string | null; reached?: string | null } }).extensions ?? {};
            statuses.push({
              tenantId: t.id,
              wave: w + 1,
              status: 'failed',
              from: ext.from ?? recorded.get(t.id) ?? null,
              to: ext.reached ?? ext.from ?? recorded.get(t.id) ?? null,
              error: (error as { detail?: string }).detail ?? (error as Error).message,
            });
          }
          done++;
          await report();
        }
      };
      await Promise.all(Array.from({ length: Math.min(p.concurrency, Math.max(1, pending.length)) }, worker));
      if (wave.failed > 0) failed = true;
    }
    const firstFailure = statuses.find((s) => s.status === 'failed');
    const result = {
      to: p.to,
      environment: p.environment,
      waves,
      counts: {
        total,
        applied: statuses.filter((s) => s.status === 'applied').length,
        upToDate: waves.reduce((n, w) => n + w.upToDate, 0),
        failed: statuses.filter((s) => s.status === 'failed').length,
        notRun: statuses.filter((s) => s.status === 'not-run').length,
      },
      // Tenants skipped as up to date are counted, not listed, so a no-op run over many tenants stays small.
      tenants: statuses.filter((s) => s.status !== 'up-to-date' || (s.applied?.length ?? 0) > 0).slice(0, 5_000),
    };
    await this.jobs.progress(job.id, done, total);
    await this.jobs.finish(
      job.id,
      firstFailure
        ? {
            state: 'failed',
            result,
            error: `stopped after wave ${firstFailure.wave}: tenant ${firstFailure.tenantId}: ${firstFailure.error}`,
          }
        : { state: 'succeeded', result },
    );
    await this.audit.record(
      { id: 'system:migrations', correlationId: null },
      {
        action: 'migration.run.finished',
        target: `job/${job.id}`,
        tenantId: null,
        outcome: firstFailure ? 'failure' : 'success',
        details: result.counts,
      },
    );
  }
}
