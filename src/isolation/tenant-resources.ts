/**
 * Makes a tenant's object and queue resources real through its strategy: ensure on
 * provisioning, observe for status, remove on purge. Every step is idempotent, so a
 * reconcile interrupted anywhere is healed by running it again. (Database resources join
 * here when the warehouse is wired in; the mappers are in shared/ and dedicated/.)
 */
import type { ObjectStore } from '../infra/objects/index.js';
import type { JobQueue } from '../infra/queue/index.js';
import { strategyFor, type IsolationContext, type ResourcePlan } from './strategy.js';
import type { TenantDatabases } from './tenant-databases.js';

/** Marker object that makes a shared tenant's prefix observable. */
export const PREFIX_MARKER = '.tenancy-prefix';

/** What exists of a tenant's objects and queue. */
export interface ObservedResources {
  plan: ResourcePlan;
  bucket: boolean;
  prefix: boolean;
  stream: boolean;
}

/** Object and queue resources per tenant. */
export class TenantResources {
  constructor(
    private readonly objects: ObjectStore,
    private readonly queue: JobQueue,
    /** PostgreSQL warehouse, when configured; without it the embedded default has no per-tenant database yet. */
    readonly databases?: TenantDatabases,
  ) {}

  /** Let the tenant's database role log in (active) or not (suspended, archived). */
  async setActive(ctx: IsolationContext, active: boolean): Promise<void> {
    await this.databases?.setLogin(ctx, active);
  }

  /** Create whatever is missing. */
  async ensure(ctx: IsolationContext): Promise<ResourcePlan> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    await this.databases?.ensure(ctx);
    await this.objects.ensureBucket(plan.objects.bucket);
    if (plan.objects.prefix) {
      await this.objects.put(plan.objects.bucket, `${plan.objects.prefix}${PREFIX_MARKER}`, Buffer.from(JSON.stringify({ tenant: ctx.tenantId })), { contentType: 'application/json' });
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
    const prefix = plan.objects.prefix ? bucket && (await this.objects.get(plan.objects.bucket, `${plan.objects.prefix}${PREFIX_MARKER}`)) !== undefined : bucket;
    return { plan, bucket, prefix, stream: await this.queue.streamExists(plan.queue.stream) };
  }

  /** Remove the tenant's objects and queue; shared places stay for the other tenants. */
  async remove(ctx: IsolationContext): Promise<void> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    if (plan.objects.prefix) await this.objects.deletePrefix(plan.objects.bucket, plan.objects.prefix);
    else await this.objects.removeBucket(plan.objects.bucket, { force: true });
    if (plan.compute.dedicatedNamespace) await this.queue.removeStream(plan.queue.stream);
    else if (await this.queue.streamExists(plan.queue.stream)) await this.queue.removeConsumer(plan.queue.stream, plan.queue.consumer);
    await this.databases?.remove(ctx);
  }
}
