/**
 * The tenant controller: drives each tenant from its desired state to its observed state.
 * Registry changes (after commit) and a periodic resync feed a {@link WorkQueue} keyed by
 * tenant. One reconcile runs the tenant's phase's resource steps (on the engines, outside
 * the store), then its status steps in one transaction on the tenant's locked row; every
 * step is idempotent, so running the same reconcile again after a crash converges. The
 * tenants table is read and written through the tenants module only.
 */
import type { Kysely } from 'kysely';
import type { ApiKeyStore } from '../access/index.js';
import type { KeyRing, SecretStore } from '../keys/index.js';
import { isolationContext, type TenantResources } from '../isolation/index.js';
import type { AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import {
  reconcileState,
  retentionDays,
  setCondition,
  tenantConditions,
  tenantIdsWithWork,
  writeObservedState,
  type TenantRegistry,
} from '../tenants/index.js';
import { ensureKey, rotateKey } from './steps/keys.js';
import { moveToProfile, placeTenant, resumeMove } from './steps/move.js';
import { purge } from './steps/purge.js';
import {
  activateResources,
  archiveResources,
  deactivateResources,
  ensureResources,
  recordResources,
  removeResources,
} from './steps/resources.js';
import { archived, deleted, observed, provisioned } from './steps/status.js';
import {
  CONTROLLER_ACTOR as ACTOR,
  degradedCondition,
  runSteps,
  type ReconcileStep,
  type ResourceStepContext,
  type StatusStepContext,
  type StepServices,
} from './steps/step.js';
import { WorkQueue } from './work-queue.js';

/** Controller settings. */
export interface ControllerOptions {
  concurrency?: number;
  resyncIntervalMs?: number;
  maxBackoffMs?: number;
  onError?: (tenantId: string, error: unknown) => void;
  /** Object and queue resources to make real on provisioning and remove on purge. */
  resources?: TenantResources;
}

/**
 * Steps on engines outside the store, in order; each runs for the phases it names. A move
 * left by a crash is finished or abandoned first; a profile change moves before the
 * tenant's logins are turned on at its new place.
 */
const RESOURCE_STEPS: ReadonlyArray<ReconcileStep<ResourceStepContext>> = [
  resumeMove,
  ensureResources,
  removeResources,
  archiveResources,
  deactivateResources,
  moveToProfile,
  activateResources,
];

/** Steps in the status transaction, in order: the record of the resource steps, keys, placement, phase, purge. */
const STATUS_STEPS: ReadonlyArray<ReconcileStep<StatusStepContext>> = [
  recordResources,
  ensureKey,
  placeTenant,
  provisioned,
  archived,
  deleted,
  purge,
  rotateKey,
  observed,
];

/** Reconciles tenants; start() it once per control plane (a leader-elected one on PostgreSQL later). */
export class TenantController {
  readonly #queue: WorkQueue;
  readonly #services: StepServices;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly registry: TenantRegistry,
    audit: AuditLog,
    apiKeys: ApiKeyStore,
    keyRing: KeyRing,
    private readonly secrets: SecretStore,
    private readonly options: ControllerOptions = {},
  ) {
    this.#services = { db, registry, audit, apiKeys, keyRing };
    this.#queue = new WorkQueue({
      concurrency: Math.max(1, options.concurrency ?? 4),
      resyncIntervalMs: options.resyncIntervalMs ?? 30_000,
      maxBackoffMs: options.maxBackoffMs ?? 60_000,
      withWork: (ids) => tenantIdsWithWork(db, ids),
      run: (id) => this.reconcile(id),
      resync: () => this.resync(),
      onError: options.onError,
    });
    registry.onChange((id, source) => {
      if (source !== 'controller') this.enqueue(id);
    });
  }

  /** Begin watching: an initial resync, then one every `resyncIntervalMs`. */
  start(): void {
    this.#queue.start();
  }

  /** Stop taking work and wait for running reconciles to finish. */
  stop(): Promise<void> {
    return this.#queue.stop();
  }

  /** Resolves when no reconcile is running or ready to run (tenants waiting out a backoff do not count). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Queue a tenant; a tenant already running is reconciled again after it finishes. */
  enqueue(id: string): void {
    this.#queue.enqueue(id);
  }

  /** Queue every tenant that has work: unobserved generations, transient phases, due purges. */
  async resync(): Promise<number> {
    try {
      const ids = await tenantIdsWithWork(this.db);
      for (const id of ids) this.enqueue(id);
      await this.secrets.notifyRotationDue(ACTOR);
      return ids.length;
    } catch (error) {
      this.options.onError?.('*', error);
      return 0;
    }
  }

  /** One reconcile of one tenant: read desired state, converge, write status. */
  async reconcile(id: string): Promise<void> {
    if ((await tenantIdsWithWork(this.db, [id])).length === 0) return;
    const seen = await this.#resourceSteps(id);
    let changed = false;
    let stale = false;
    let requeue = false;
    await this.db.transaction().execute(async (trx) => {
      const tenant = await reconcileState(trx, id, { lock: true });
      if (!tenant) return;
      // The resource steps acted on the phase and generation they read; a verb or an update
      // committed since then (another request, another replica) must not be marked done on
      // their strength: this pass ends and the tenant is reconciled again from its new state.
      if (seen && (seen.phase !== tenant.phase || seen.generation !== tenant.generation)) {
        stale = true;
        return;
      }
      const ctx: StatusStepContext = {
        id,
        phase: tenant.phase,
        tenant,
        spec: tenant.spec,
        services: this.#services,
        trx,
        now: new Date(),
        conditions: tenant.conditions,
        requeue: false,
      };
      const outcome = await runSteps(STATUS_STEPS, ctx);
      if (outcome.failure) throw outcome.failure.error;
      changed = outcome.conditions.length > 0;
      requeue = ctx.requeue;
    });
    if (changed) this.registry.notify(id, 'controller');
    if (stale || requeue) this.enqueue(id);
  }

  /**
   * Steps on engines outside the store (databases, objects, queue) run before the status
   * transaction, never inside it: they are idempotent, and a failure is recorded as
   * `Degraded` and retried.
   */
  async #resourceSteps(id: string): Promise<{ phase: string; generation: number } | undefined> {
    const resources = this.options.resources;
    if (!resources) return undefined;
    const tenant = await reconcileState(this.db, id);
    if (!tenant) return undefined;
    const { spec, phase } = tenant;
    const purgeDue =
      phase === 'deleted' &&
      tenant.purgedAt === null &&
      tenant.purgeAfter !== null &&
      new Date(tenant.purgeAfter).getTime() <= Date.now();
    const ctx: ResourceStepContext = {
      id,
      phase,
      tenant,
      spec,
      services: this.#services,
      resources,
      place: isolationContext(id, spec, tenant.placedProfile),
      removing: purgeDue || (phase === 'deleting' && retentionDays(spec) === 0),
    };
    const { failure } = await runSteps(RESOURCE_STEPS, ctx);
    if (failure) {
      await this.#recordFailure(id, failure.error);
      throw failure.error;
    }
    return { phase, generation: tenant.generation };
  }

  /** Always write status: a failed resource step leaves `Degraded` with its reason, and listeners hear of it. */
  async #recordFailure(id: string, error: unknown): Promise<void> {
    const degraded = degradedCondition(error);
    await this.db.transaction().execute(async (trx) => {
      const current = await tenantConditions(trx, id, { lock: true });
      if (!current) return;
      await writeObservedState(trx, id, { conditions: setCondition(current, degraded, new Date()) });
    });
    this.registry.notify(id, 'controller');
  }
}
