/**
 * The tenant controller: drives each tenant from its desired state to its observed state.
 * Registry changes (after commit) and a periodic resync feed a work queue keyed by tenant,
 * so one tenant is reconciled by one worker at a time, with bounded concurrency and
 * exponential backoff with jitter on failure. Every step is idempotent: running the same
 * reconcile again after a crash converges. Provisioning completes directly for now; the
 * isolation strategies hook real resources in here.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool, type Transaction } from 'kysely';
import type { ApiKeyStore } from '../access/index.js';
import type { KeyRing, SecretStore } from '../keys/index.js';
import { isolationContext, type TenantResources } from '../isolation/index.js';
import { purgeTenantLineage, purgeTenantPolicies } from '../governance/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import { json, type Schema } from '../infra/sql/index.js';
import {
  keyRotationDays,
  PLAN_DEFAULTS,
  purgeTenantDocuments,
  retentionDays,
  setCondition,
  type Condition,
  type Phase,
  type TenantRegistry,
  type TenantSpec,
} from '../tenants/index.js';
import { mergeJobResult } from './jobs.js';

/** Controller settings. */
export interface ControllerOptions {
  concurrency?: number;
  resyncIntervalMs?: number;
  maxBackoffMs?: number;
  onError?: (tenantId: string, error: unknown) => void;
  /** Object and queue resources to make real on provisioning and remove on purge. */
  resources?: TenantResources;
}

const ACTOR: Actor = { id: 'system:controller', correlationId: null };

/** A tenant's key rotation period in SQL: the manifest's `config.keyRotationDays`, else the plan default. */
const ROTATION_DAYS_SQL = sql<number>`coalesce((tenants.spec->'config'->>'keyRotationDays')::int, case tenants.plan ${sql.join(
  Object.entries(PLAN_DEFAULTS).map(([plan, d]) => sql`when ${plan} then ${d.keyRotationDays}::int`),
  sql` `,
)} end)`;

/**
 * Whether a tenant has anything for the controller to do: an unobserved generation, a
 * transient phase, a move in progress, a purge or a key rotation due, or resource steps
 * not yet carried out for its current phase and generation. The resync queues these, and
 * a queued tenant without any ends after this one read.
 */
function hasWork(eb: ExpressionBuilder<Schema, 'tenants'>): Expression<SqlBool> {
  return eb.or([
    eb('generation', '<>', eb.ref('observed_generation')),
    eb('phase', 'in', ['provisioning', 'archiving', 'deleting']),
    eb('moving_to', 'is not', null),
    eb('moving_from', 'is not', null),
    // A profile change that an archive overtook: restored onto its old place, it moves now.
    eb.and([
      eb('phase', '=', 'active'),
      sql<boolean>`tenants.placed_profile is not null and tenants.placed_profile <> tenants.spec->>'profile'`,
    ]),
    sql<boolean>`tenants.resources_phase is distinct from tenants.phase`,
    sql<boolean>`tenants.resources_generation is distinct from tenants.generation`,
    eb.and([eb('phase', '=', 'deleted'), eb('purged_at', 'is', null), eb('purge_after', '<=', new Date())]),
    eb.and([
      eb('phase', 'in', ['active', 'suspended']),
      sql<boolean>`exists (select 1 from tenant_keys k where k.tenant_id = tenants.id and k.state = 'active' and k.created_at + make_interval(days => ${ROTATION_DAYS_SQL}) <= now())`,
    ]),
  ]);
}

/** Failures that need an operator, not a retry, get a reason of their own (`role_name_taken` -> `RoleNameTaken`). */
const NAMED_FAILURES = new Set(['role_name_taken', 'database_name_taken', 'schema_name_taken']);

function degradedReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NAMED_FAILURES.has(code))
    return code
      .split('_')
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join('');
  return 'ResourceStepFailed';
}

/** Reconciles tenants; start() it once per control plane (a leader-elected one on PostgreSQL later). */
export class TenantController {
  readonly #pending = new Set<string>();
  /** Queued, not yet checked for work: checked in batches, so a pass over many unchanged tenants is a few reads. */
  readonly #unchecked = new Set<string>();
  #triaging = false;
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, { attempts: number; retryAt: number }>();
  readonly #idle: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryAt = 0;
  #stopped = true;
  readonly #concurrency: number;
  readonly #resyncIntervalMs: number;
  readonly #maxBackoffMs: number;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly registry: TenantRegistry,
    private readonly audit: AuditLog,
    private readonly apiKeys: ApiKeyStore,
    private readonly keyRing: KeyRing,
    private readonly secrets: SecretStore,
    private readonly options: ControllerOptions = {},
  ) {
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#resyncIntervalMs = options.resyncIntervalMs ?? 30_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 60_000;
    registry.onChange((id, source) => {
      if (source !== 'controller') this.enqueue(id);
    });
  }

  /** Begin watching: an initial resync, then one every `resyncIntervalMs`. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.resync();
    this.#timer = setInterval(() => void this.resync(), this.#resyncIntervalMs);
    this.#timer.unref();
  }

  /** Stop taking work and wait for running reconciles to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#pending.clear();
    this.#unchecked.clear();
    await this.idle();
  }

  /** Resolves when no reconcile is running or ready to run (tenants waiting out a backoff do not count). */
  idle(): Promise<void> {
    if (this.#quiet()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #quiet(): boolean {
    const now = Date.now();
    return (
      this.#running.size === 0 &&
      this.#unchecked.size === 0 &&
      !this.#triaging &&
      [...this.#pending].every((id) => (this.#failures.get(id)?.retryAt ?? 0) > now)
    );
  }

  /** Queue a tenant; a tenant already running is reconciled again after it finishes. */
  enqueue(id: string): void {
    if (this.#stopped) return;
    if (this.#running.has(id)) this.#dirty.add(id);
    else if (this.#pending.has(id) || this.#failures.has(id)) this.#pending.add(id);
    else {
      this.#unchecked.add(id);
      this.#triage();
    }
    this.#pump();
  }

  /** Move queued tenants that have work (one read per batch of up to 500) to the work queue; drop the rest. */
  #triage(): void {
    if (this.#triaging) return;
    this.#triaging = true;
    void (async () => {
      try {
        while (this.#unchecked.size > 0 && !this.#stopped) {
          const batch = [...this.#unchecked].slice(0, 500);
          for (const id of batch) this.#unchecked.delete(id);
          let due: string[];
          try {
            due = (
              await this.db.selectFrom('tenants').select('id').where('id', 'in', batch).where(hasWork).execute()
            ).map((r) => r.id);
          } catch (error) {
            // Unable to tell: reconcile them all (each reconcile checks again).
            this.options.onError?.('*', error);
            due = batch;
          }
          for (const id of due) {
            if (this.#running.has(id)) this.#dirty.add(id);
            else this.#pending.add(id);
          }
          this.#pump();
        }
      } finally {
        this.#triaging = false;
        if (this.#stopped || this.#quiet()) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      }
    })();
  }

  /** Queue every tenant that has work: unobserved generations, transient phases, due purges. */
  async resync(): Promise<number> {
    try {
      const rows = await this.db.selectFrom('tenants').select('id').where(hasWork).execute();
      for (const r of rows) this.enqueue(r.id);
      await this.secrets.notifyRotationDue(ACTOR);
      return rows.length;
    } catch (error) {
      this.options.onError?.('*', error);
      return 0;
    }
  }

  #pump(): void {
    const now = Date.now();
    for (const id of [...this.#pending]) {
      if (this.#running.size >= this.#concurrency) break;
      const failure = this.#failures.get(id);
      if (failure && failure.retryAt > now) continue;
      this.#pending.delete(id);
      this.#running.add(id);
      void this.reconcile(id)
        .then(() => this.#failures.delete(id))
        .catch((error) => {
          const attempts = (this.#failures.get(id)?.attempts ?? 0) + 1;
          const base = Math.min(this.#maxBackoffMs, 250 * 2 ** (attempts - 1));
          const delay = base / 2 + Math.random() * (base / 2);
          this.#failures.set(id, { attempts, retryAt: Date.now() + delay });
          this.options.onError?.(id, error);
          this.#dirty.add(id);
          this.#scheduleRetry(delay);
        })
        .finally(() => {
          this.#running.delete(id);
          if (this.#dirty.delete(id) && !this.#stopped) this.#pending.add(id);
          this.#pump();
          if (this.#stopped || this.#quiet()) {
            for (const resolve of this.#idle.splice(0)) resolve();
          }
        });
    }
  }

  /** Wake the pump when the earliest backoff ends (a later timer is replaced by an earlier one). */
  #scheduleRetry(delayMs: number): void {
    if (this.#stopped) return;
    const at = Date.now() + delayMs;
    if (this.#retryTimer && this.#retryAt <= at) return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryAt = at;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pump();
      const next = Math.min(...[...this.#pending].map((id) => this.#failures.get(id)?.retryAt ?? Infinity));
      if (Number.isFinite(next)) this.#scheduleRetry(Math.max(0, next - Date.now()));
    }, delayMs);
    this.#retryTimer.unref();
  }

  /** One reconcile of one tenant: read desired state, converge, write status. */
  async reconcile(id: string): Promise<void> {
    if (!(await this.db.selectFrom('tenants').select('id').where('id', '=', id).where(hasWork).executeTakeFirst()))
      return;
    const seen = await this.#externalSteps(id);
    let changed = true;
    let stale = false;
    let movePending = false;
    await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('tenants').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) {
        changed = false;
        return;
      }
      // The resource steps acted on the phase and generation they read; a verb or an update
      // committed since then (another request, another replica) must not be marked done on
      // their strength: this pass ends and the tenant is reconciled again from its new state.
      if (seen && (seen.phase !== row.phase || seen.generation !== row.generation)) {
        changed = false;
        stale = true;
        return;
      }
      // The resource steps just run leave the tenant's resources as its settled phase needs
      // them (provisioning ends active, archiving archived, deleting deleted): record that.
      const settled =
        ({ provisioning: 'active', archiving: 'archived', deleting: 'deleted' } as Record<string, string>)[row.phase] ??
        row.phase;
      if (row.resources_phase !== settled || row.resources_generation !== row.generation) {
        await trx
          .updateTable('tenants')
          .set({ resources_phase: settled, resources_generation: row.generation })
          .where('id', '=', id)
          .execute();
      }
      const phase = row.phase as Phase;
      const now = new Date();
      const conditions = row.conditions as Condition[];
      switch (phase) {
        case 'provisioning':
          await this.keyRing.ensureTenantKey(id, trx);
          await trx
            .updateTable('tenants')
            .set({ placed_profile: row.placed_profile ?? (row.spec as unknown as TenantSpec).profile })
            .where('id', '=', id)
            .execute();
          // Restored onto the place it was archived from while its spec names another: the move comes next.
          movePending =
            row.placed_profile !== null && row.placed_profile !== (row.spec as unknown as TenantSpec).profile;
          await this.#setStatus(
            trx,
            id,
            phase,
            'active',
            row.generation,
            setCondition(
              conditions.filter((c) => c.type !== 'Degraded'),
              { type: 'Ready', status: 'True', reason: 'Provisioned', message: 'the tenant is ready' },
              now,
            ),
            'tenant.provisioned',
          );
          return;
        case 'archiving':
          await this.#setStatus(
            trx,
            id,
            phase,
            'archived',
            row.generation,
            setCondition(
              conditions,
              { type: 'Ready', status: 'False', reason: 'Archived', message: 'the tenant is archived' },
              now,
            ),
            'tenant.archived',
          );
          return;
        case 'deleting': {
          const days = retentionDays(row.spec as unknown as TenantSpec);
          const purgeAfter = new Date(now.getTime() + days * 86_400_000);
          await trx
            .updateTable('tenants')
            .set({ deleted_at: now.toISOString(), purge_after: purgeAfter.toISOString() })
            .where('id', '=', id)
            .execute();
          const deleted = setCondition(
            conditions,
            {
              type: 'Ready',
              status: 'False',
              reason: 'Deleted',
              message: `data is kept until ${purgeAfter.toISOString()} (${days} days), then purged`,
            },
            now,
          );
          await this.#setStatus(trx, id, phase, 'deleted', row.generation, deleted, 'tenant.deleted', {
            purgeAfter: purgeAfter.toISOString(),
          });
          if (days === 0) await this.#purge(trx, id, deleted, now);
          return;
        }
        case 'deleted':
          if (
            row.purged_at === null &&
            row.purge_after !== null &&
            new Date(row.purge_after).getTime() <= now.getTime()
          )
            await this.#purge(trx, id, conditions, now);
          else changed = false;
          return;
        default:
          if (phase === 'active' || phase === 'suspended')
            changed = (await this.#rotateIfDue(trx, id, row.spec as unknown as TenantSpec, now)) || changed;
          if (row.generation !== row.observed_generation) {
            const ready: Omit<Condition, 'lastTransitionTime'> =
              phase === 'active'
                ? {
                    type: 'Ready',
                    status: 'True',
                    reason: 'Reconciled',
                    message: `generation ${row.generation} is in effect`,
                  }
                : {
                    type: 'Ready',
                    status: 'False',
                    reason: phase === 'suspended' ? 'Suspended' : 'Failed',
                    message: `generation ${row.generation} observed while ${phase}`,
                  };
            await trx
              .updateTable('tenants')
              .set({
                observed_generation: row.generation,
                conditions: json(
                  setCondition(
                    conditions.filter((c) => c.type !== 'Degraded'),
                    ready,
                    now,
                  ),
                ),
              })
              .where('id', '=', id)
              .execute();
            await this.audit.recordChange(trx, {
              actor: ACTOR,
              action: 'tenant.reconcile',
              target: `tenant/${id}`,
              tenantId: id,
              outcome: 'success',
              details: { observedGeneration: row.generation },
              event: { type: 'tenant.reconciled', tenantId: id, payload: { id, observedGeneration: row.generation } },
            });
          } else changed = false;
      }
    });
    if (changed) this.registry.notify(id, 'controller');
    if (stale || movePending) this.enqueue(id);
  }

  async #setStatus(
    trx: Transaction<Schema>,
    id: string,
    from: Phase,
    to: Phase,
    generation: number,
    conditions: Condition[],
    action: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await trx
      .updateTable('tenants')
      .set({
        phase: to,
        observed_generation: generation,
        conditions: json(conditions),
        updated_at: new Date().toISOString(),
      })
      .where('id', '=', id)
      .execute();
    await this.audit.recordChange(trx, {
      actor: ACTOR,
      action,
      target: `tenant/${id}`,
      tenantId: id,
      outcome: 'success',
      details: { from, to, ...details },
      event: { type: action, tenantId: id, payload: { id, from, to, ...details } },
    });
  }

  /**
   * Steps on engines outside the store (objects, queue) run before the status transaction,
   * never inside it: they are idempotent, and a failure is recorded as `Degraded` and retried.
   */
  async #externalSteps(id: string): Promise<{ phase: string; generation: number } | undefined> {
    const resources = this.options.resources;
    if (!resources) return undefined;
    const row = await this.db
      .selectFrom('tenants')
      .select(['phase', 'generation', 'spec', 'purged_at', 'purge_after', 'placed_profile', 'moving_from', 'moving_to'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const spec = row.spec as unknown as TenantSpec;
    const ctx = isolationContext(id, spec, row.placed_profile);
    const purgeDue =
      row.phase === 'deleted' &&
      row.purged_at === null &&
      row.purge_after !== null &&
      new Date(row.purge_after).getTime() <= Date.now();
    const deletingNow = row.phase === 'deleting' && retentionDays(spec) === 0;
    try {
      // A move cut over before a crash: its old place goes first, whatever happened since.
      if (row.moving_from) await this.#finishMove(id, spec, row.moving_from, ctx);
      // A move the process died in before its cut-over: remove the half-made place (the move starts afresh if still wanted).
      if (row.moving_to) {
        await resources.abandonMove(ctx, isolationContext(id, spec, row.moving_to));
        await this.db.updateTable('tenants').set({ moving_to: null }).where('id', '=', id).execute();
      }
      if (row.phase === 'provisioning') {
        await resources.ensure(ctx);
        // A tenant back from an archive had its login and consumer turned off: it ends active.
        await resources.setActive(ctx, true);
      } else if (purgeDue || deletingNow) await resources.remove(ctx);
      else if (row.phase === 'archiving') await resources.archive(ctx);
      else if (
        row.phase === 'suspended' ||
        row.phase === 'archived' ||
        row.phase === 'deleting' ||
        row.phase === 'deleted'
      )
        await resources.setActive(ctx, false);
      else if (row.phase === 'active') {
        if (row.placed_profile && row.placed_profile !== spec.profile) await this.#move(id, spec, ctx);
        await resources.setActive(isolationContext(id, spec, spec.profile), true);
      }
    } catch (error) {
      const message = (error as { detail?: string; message?: string }).detail ?? (error as Error).message;
      await this.db.transaction().execute(async (trx) => {
        const current = await trx
          .selectFrom('tenants')
          .select('conditions')
          .where('id', '=', id)
          .forUpdate()
          .executeTakeFirst();
        if (!current) return;
        const conditions = setCondition(
          current.conditions as Condition[],
          { type: 'Degraded', status: 'True', reason: degradedReason(error), message: message.slice(0, 500) },
          new Date(),
        );
        await trx
          .updateTable('tenants')
          .set({ conditions: json(conditions) })
          .where('id', '=', id)
          .execute();
      });
      this.registry.notify(id, 'controller');
      throw error;
    }
    return { phase: row.phase, generation: row.generation };
  }

  /**
   * A profile change: copy the tenant to the new strategy's place and verify it (the tenant's
   * database logins fenced off meanwhile), record the cut-over (placement + the old place to remove)
   * in one transaction, then remove the old place. A crash after the cut-over resumes at
   * the removal; a failure before it leaves the tenant on its old place.
   */
  async #move(id: string, spec: TenantSpec, from: ReturnType<typeof isolationContext>): Promise<void> {
    const resources = this.options.resources!;
    const to = isolationContext(id, spec, spec.profile);
    await this.db.updateTable('tenants').set({ moving_to: to.profile }).where('id', '=', id).execute();
    let moved: Awaited<ReturnType<typeof resources.move>>;
    try {
      moved = await resources.move(from, to);
    } catch (error) {
      // move() already put the old place back; nothing is in progress any more.
      await this.db.updateTable('tenants').set({ moving_to: null }).where('id', '=', id).execute();
      throw error;
    }
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('tenants')
        .set({ placed_profile: to.profile, moving_from: from.profile, moving_to: null })
        .where('id', '=', id)
        .execute();
      await this.audit.recordChange(trx, {
        actor: ACTOR,
        action: 'tenant.move',
        target: `tenant/${id}`,
        tenantId: id,
        outcome: 'success',
        details: { from: from.profile, to: to.profile, rows: moved.rows, objects: moved.objects, jobId: moved.jobId },
        event: {
          type: 'tenant.moved',
          tenantId: id,
          payload: { id, from: from.profile, to: to.profile, jobId: moved.jobId },
        },
      });
    });
    this.registry.notify(id, 'controller');
    await this.#finishMove(id, spec, from.profile, to, moved);
  }

  async #finishMove(
    id: string,
    spec: TenantSpec,
    fromProfile: string,
    to: ReturnType<typeof isolationContext>,
    moved?: { jobId: string; fencedSince: number },
  ): Promise<void> {
    await this.options.resources!.finishMove(isolationContext(id, spec, fromProfile), to);
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('tenants').set({ moving_from: null }).where('id', '=', id).execute();
      const fenceMs = moved ? Date.now() - moved.fencedSince : null;
      await this.audit.append(trx, ACTOR, {
        action: 'tenant.move.finish',
        target: `tenant/${id}`,
        tenantId: id,
        outcome: 'success',
        details: { from: fromProfile, to: to.profile, fenceMs, oldPlaceRemoved: true },
      });
      if (moved) await mergeJobResult(trx, moved.jobId, { fenceMs });
    });
    this.registry.notify(id, 'controller');
  }

  /** Rotate the tenant's key when its active version is older than the rotation period. */
  async #rotateIfDue(trx: Transaction<Schema>, id: string, spec: TenantSpec, now: Date): Promise<boolean> {
    const active = await trx
      .selectFrom('tenant_keys')
      .select(['version', 'created_at'])
      .where('tenant_id', '=', id)
      .where('state', '=', 'active')
      .executeTakeFirst();
    if (!active) return false;
    const days = keyRotationDays(spec);
    if (new Date(active.created_at).getTime() + days * 86_400_000 > now.getTime()) return false;
    const version = await this.keyRing.rotate(id, trx);
    await this.audit.recordChange(trx, {
      actor: ACTOR,
      action: 'tenant.keys.rotate',
      target: `tenant/${id}/keys`,
      tenantId: id,
      outcome: 'success',
      details: { version, scheduled: true, keyRotationDays: days },
      event: { type: 'tenant.key_rotated', tenantId: id, payload: { id, version } },
    });
    return true;
  }

  /**
   * Retention is over: destroy the tenant's keys (crypto-shredding: what is left of its
   * data cannot be decrypted), drop its documents, policies, lineage records and credentials;
   * the id stays reserved. Approval records stay: they are the governance history.
   */
  async #purge(trx: Transaction<Schema>, id: string, conditions: Condition[], now: Date): Promise<void> {
    const shredded = await this.keyRing.destroyTenantKeys(id, trx);
    await this.audit.append(trx, ACTOR, {
      action: 'tenant.keys.shred',
      target: `tenant/${id}/keys`,
      tenantId: id,
      outcome: 'success',
      details: { keyIds: shredded },
    });
    const documents = await purgeTenantDocuments(trx, id);
    const lineageRecords = await purgeTenantLineage(trx, id);
    const policyVersions = await purgeTenantPolicies(trx, id);
    const keys = await this.apiKeys.revokeAllIn(trx, id);
    await trx
      .updateTable('tenants')
      .set({
        purged_at: now.toISOString(),
        conditions: json(
          setCondition(
            conditions,
            {
              type: 'Purged',
              status: 'True',
              reason: 'RetentionExpired',
              message: 'tenant data was purged; the id stays reserved',
            },
            now,
          ),
        ),
      })
      .where('id', '=', id)
      .execute();
    await this.audit.recordChange(trx, {
      actor: ACTOR,
      action: 'tenant.purge',
      target: `tenant/${id}`,
      tenantId: id,
      outcome: 'success',
      details: {
        documents,
        policyVersions,
        lineageRecords,
        apiKeysRevoked: keys,
      },
      event: { type: 'tenant.purged', tenantId: id, payload: { id } },
    });
  }
}
