/**
 * Makes a tenant's database, object and queue resources real through its strategy: ensure
 * on provisioning, observe for status, remove on purge. Every step is idempotent, so a
 * reconcile interrupted anywhere is healed by running it again.
 */
import type { ObjectStore } from '../infra/objects/index.js';
import type { JobQueue } from '../infra/queue/index.js';
import { strategyFor, type IsolationContext, type ResourcePlan } from './strategy.js';
import type { TenantArchiver } from './archive/tenant-archiver.js';
import type { TenantMigrator } from './migrations/tenant-migrator.js';
import type { Warehouse } from './warehouse/warehouse.js';

/** Marker object that makes a shared tenant's prefix observable. */
export const PREFIX_MARKER = '.tenancy-prefix';

/** What exists of a tenant's resources. */
export interface ObservedResources {
  plan: ResourcePlan;
  database: boolean;
  bucket: boolean;
  prefix: boolean;
  stream: boolean;
}

/** Database, object and queue resources per tenant. */
export class TenantResources {
  constructor(
    private readonly objects: ObjectStore,
    private readonly queue: JobQueue,
    /** The tenants' databases: PostgreSQL (TENANCY_WAREHOUSE_URL) or the embedded PGlite warehouse. */
    readonly databases: Warehouse,
    /** The app's migrations, applied to each new tenant's database; undefined when no folder is configured. */
    readonly migrator?: TenantMigrator,
    /** Archive and restore through cold storage. */
    readonly archiver?: TenantArchiver,
  ) {}

  /** Let the tenant's database role log in and its queue consumer deliver (active), or not (suspended, archived). */
  async setActive(ctx: IsolationContext, active: boolean): Promise<void> {
    await this.databases.setLogin(ctx, active);
    const plan = strategyFor(ctx.profile).resources(ctx);
    if (
      (await this.queue.streamExists(plan.queue.stream)) &&
      (await this.queue.consumerPaused(plan.queue.stream, plan.queue.consumer)) === active
    ) {
      await this.queue.setConsumerPaused(plan.queue.stream, plan.queue.consumer, !active);
    }
  }

  /** Create whatever is missing. */
  async ensure(ctx: IsolationContext): Promise<ResourcePlan> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    await this.databases.ensure(ctx);
    await this.objects.ensureBucket(plan.objects.bucket);
    if (plan.objects.prefix) {
      await this.objects.put(
        plan.objects.bucket,
        `${plan.objects.prefix}${PREFIX_MARKER}`,
        Buffer.from(JSON.stringify({ tenant: ctx.tenantId })),
        { contentType: 'application/json' },
      );
    }
    // A tenant coming back from an archive gets its data back (at its archived migration version) first.
    await this.archiver?.restore(ctx);
    if (this.migrator) {
      await this.migrator.refresh();
      await this.migrator.apply(ctx);
    }
    const subjects = plan.compute.dedicatedNamespace ? [plan.queue.subject] : [`${plan.queue.stream}.*`];
    await this.queue.ensureStream(plan.queue.stream, subjects);
    await this.queue.ensureConsumer(plan.queue.stream, plan.queue.consumer, plan.queue.subject);
    return plan;
  }

  /** What exists now. */
  async observe(ctx: IsolationContext): Promise<ObservedResources> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    const bucket = await this.objects.bucketExists(plan.objects.bucket);
    const prefix = plan.objects.prefix
      ? bucket && (await this.objects.get(plan.objects.bucket, `${plan.objects.prefix}${PREFIX_MARKER}`)) !== undefined
      : bucket;
    return {
      plan,
      database: (await this.databases.observe(ctx)).exists,
      bucket,
      prefix,
      stream: await this.queue.streamExists(plan.queue.stream),
    };
  }

  /** Remove the tenant's objects and queue; shared places stay for the other tenants. */
  async remove(ctx: IsolationContext): Promise<void> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    if (plan.objects.prefix) await this.objects.deletePrefix(plan.objects.bucket, plan.objects.prefix);
    else await this.objects.removeBucket(plan.objects.bucket, { force: true });
    if (plan.compute.dedicatedNamespace) await this.queue.removeStream(plan.queue.stream);
    else if (await this.queue.streamExists(plan.queue.stream))
      await this.queue.removeConsumer(plan.queue.stream, plan.queue.consumer);
    await this.databases.remove(ctx);
    await this.migrator?.forget(ctx.tenantId);
    await this.archiver?.purge(ctx.tenantId);
  }

  /**
   * Move the tenant's data from the place `from` names to the place `to` names (a profile
   * change): the tenant's database logins are fenced off (its sessions end, its role cannot
   * log in: enforced by role attributes, not by a setting the tenant could change back),
   * everything is exported to a staging copy, imported into the new place and verified
   * there. Returns when the fence began; the caller then records the cut-over, calls
   * {@link finishMove} and lets the tenant log in again. Any failure removes the half-made
   * new place, lifts the fence and rethrows: the tenant stays where it was, intact.
   */
  async move(
    from: IsolationContext,
    to: IsolationContext,
  ): Promise<{ jobId: string; fencedSince: number; rows: number; objects: number }> {
    const archiver = this.archiver;
    if (!archiver) throw new Error('moves need the archiver');
    const job = await archiver.jobs.create({
      kind: 'move',
      tenantId: from.tenantId,
      params: { from: from.profile, to: to.profile },
      total: 0,
      createdBy: 'system:controller',
    });
    await archiver.jobs.start(job.id);
    const staging = `${from.tenantId}/move-${new Date().toISOString().replace(/[:.]/g, '-')}/`;
    const fencedSince = Date.now();
    await this.databases.fence(from);
    try {
      const manifest = await archiver.exportData(from, staging, (done, total) =>
        archiver.jobs.progress(job.id, done, total * 2),
      );
      const total = manifest.tables.length + manifest.objects.length;
      const plan = strategyFor(to.profile).resources(to);
      await this.objects.ensureBucket(plan.objects.bucket);
      await archiver.importData(to, manifest, staging, `${archiver.bucket}/${staging}`, (done) =>
        archiver.jobs.progress(job.id, total + done, total * 2),
      );
      if (plan.objects.prefix)
        await this.objects.put(
          plan.objects.bucket,
          `${plan.objects.prefix}${PREFIX_MARKER}`,
          Buffer.from(JSON.stringify({ tenant: to.tenantId })),
          { contentType: 'application/json' },
        );
      await this.#ensureQueue(to);
      await this.objects.deletePrefix(archiver.bucket, staging);
      const rows = manifest.tables.reduce((n, t) => n + t.rows, 0);
      await archiver.jobs.finish(job.id, {
        state: 'succeeded',
        result: {
          from: from.profile,
          to: to.profile,
          tables: manifest.tables.length,
          rows,
          objects: manifest.objects.length,
          verified: true,
        },
      });
      return { jobId: job.id, fencedSince, rows, objects: manifest.objects.length };
    } catch (error) {
      await this.abandonMove(from, to, { reopen: true }).catch(() => undefined);
      await this.objects.deletePrefix(archiver.bucket, staging).catch(() => undefined);
      await archiver.jobs.finish(job.id, {
        state: 'failed',
        error: (error as { detail?: string }).detail ?? (error as Error).message,
      });
      throw error;
    }
  }

  /**
   * Undo a move that did not reach its cut-over (it failed, or the process died during it):
   * remove whatever was made of the new place. The tenant stays on its old resources,
   * intact; `reopen` lifts the fence (a failed move of an active tenant), otherwise the
   * tenant's phase decides its logins next.
   */
  async abandonMove(from: IsolationContext, to: IsolationContext, options: { reopen?: boolean } = {}): Promise<void> {
    if (from.profile === to.profile) return;
    await this.databases.removePlace(to);
    await this.#removeObjects(to, from);
    const old = strategyFor(from.profile).resources(from);
    const made = strategyFor(to.profile).resources(to);
    if (made.queue.stream !== old.queue.stream) {
      if (made.compute.dedicatedNamespace) await this.queue.removeStream(made.queue.stream);
      else if (await this.queue.streamExists(made.queue.stream))
        await this.queue.removeConsumer(made.queue.stream, made.queue.consumer);
    }
    if (options.reopen) await this.databases.setLogin(from, true);
  }

  /** After the cut-over: remove the old place's database, objects and queue (the caller lets the tenant log in again). */
  async finishMove(from: IsolationContext, to: IsolationContext): Promise<void> {
    await this.databases.removePlace(from);
    await this.#removeObjects(from, to);
    const old = strategyFor(from.profile).resources(from);
    const now = strategyFor(to.profile).resources(to);
    if (old.queue.stream !== now.queue.stream) {
      if (old.compute.dedicatedNamespace) await this.queue.removeStream(old.queue.stream);
      else if (await this.queue.streamExists(old.queue.stream))
        await this.queue.removeConsumer(old.queue.stream, old.queue.consumer);
    }
  }

  /** Remove the objects of the place `ctx` names, unless `keep` names the same place. */
  async #removeObjects(ctx: IsolationContext, keep: IsolationContext): Promise<void> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    const other = strategyFor(keep.profile).resources(keep);
    if (plan.objects.bucket === other.objects.bucket && plan.objects.prefix === other.objects.prefix) return;
    if (plan.objects.prefix) await this.objects.deletePrefix(plan.objects.bucket, plan.objects.prefix);
    else await this.objects.removeBucket(plan.objects.bucket, { force: true });
  }

  async #ensureQueue(ctx: IsolationContext): Promise<void> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    const subjects = plan.compute.dedicatedNamespace ? [plan.queue.subject] : [`${plan.queue.stream}.*`];
    await this.queue.ensureStream(plan.queue.stream, subjects);
    await this.queue.ensureConsumer(plan.queue.stream, plan.queue.consumer, plan.queue.subject);
  }

  /** Export the tenant to cold storage, then remove its live database and objects. */
  async archive(ctx: IsolationContext): Promise<void> {
    await this.setActive(ctx, false);
    await this.archiver?.archive(ctx);
  }
}
