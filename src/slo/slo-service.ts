/**
 * Tenants' SLOs at work: their definitions (the `SLO` documents), SLI events from the
 * control plane's own traffic (model router, retrieval) and from outside
 * (`POST /v1/tenants/{id}/slis`, the SDK's batches), their status, and the evaluator that
 * acts on it every few seconds: alerts that start and stop firing, budgets that run out,
 * and each tenant's freeze (any SLO's budget exhausted) and latency degradation (a latency
 * SLO alerting or out of budget; it ends only after `recoverAfterMs` of health, so it does
 * not flap). Every transition is an audited event (`slo.alert.firing`, `slo.alert.resolved`,
 * `slo.budget.exhausted`, `slo.freeze.started`, `slo.freeze.ended`,
 * `slo.degraded.started`, `slo.degraded.ended`) and a condition on the tenant
 * (`ErrorBudgetExhausted`, `LatencyDegraded`).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Registry } from 'prom-client';
import { TenancyError } from '../errors.js';
import { json } from '../infra/sql/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import {
  type FreezeGuard,
  type RiskyChange,
  documentsOfKind,
  tenantConditions,
  type TenantRegistry,
  writeObservedState,
} from '../tenants/index.js';
import type { SliEvent, SliStore } from './sli-store.js';
import { experimentalFlags, sloConditions } from './slo-conditions.js';
import { SloMetrics } from './slo-metrics.js';
import { type SliSource, sloSpecSchema } from './slo-schema.js';
import { type SloDefinition, type SloStatus, sloStatuses } from './slo-status.js';

const ACTOR: Actor = { id: 'system:slo', correlationId: null };

/** A tenant's freeze as the API and the change checks see it. */
export interface FreezeState {
  frozen: boolean;
  since: string | null;
  /** The SLOs whose budget is exhausted. */
  slos: string[];
  /** Experimental flags switched off while a latency SLO is violated. */
  flagsOff: string[];
}

/** Options of {@link SloService}. */
export interface SloServiceOptions {
  /** The clock (tests drive it). */
  now?: () => number;
  /** Time between evaluations (default 30 s; 0: only when asked). */
  evaluateIntervalMs?: number;
  /** Health needed before a latency degradation ends (default 10 min). */
  recoverAfterMs?: number;
  /** Where the SLO gauges are registered (`/metrics`). */
  metrics?: Registry;
  onError?: (error: unknown) => void;
}

interface StoredSloState {
  alerts: string[];
  budget: string;
}

/** SLO definitions, SLIs, status and the evaluator; the registry's freeze guard. */
export class SloService implements FreezeGuard {
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  readonly #frozen = new Map<string, { at: number; state: FreezeState }>();
  readonly #metrics: SloMetrics | undefined;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly registry: TenantRegistry,
    readonly slis: SliStore,
    private readonly options: SloServiceOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#metrics = options.metrics ? new SloMetrics(options.metrics) : undefined;
  }

  /** Record one event of the control plane's own traffic (a map update). */
  record(tenantId: string, source: SliSource, event: SliEvent): void {
    this.slis.record(tenantId, source, event);
  }

  /** The SLOs of the given tenants (or of every tenant that is not deleted). */
  async definitions(tenantIds?: readonly string[]): Promise<SloDefinition[]> {
    const docs = await documentsOfKind(this.db, 'SLO', tenantIds);
    return docs.map((d) => ({ tenantId: d.tenantId, name: d.name, spec: sloSpecSchema.parse(d.spec) }));
  }

  /** The status of one tenant's SLOs (or one of them: 404 `slo_not_found` when it has no such SLO). */
  async status(tenantId: string, name?: string): Promise<SloStatus[]> {
    await this.registry.get(tenantId);
    const defs = (await this.definitions([tenantId])).filter((d) => name === undefined || d.name === name);
    if (name !== undefined && defs.length === 0)
      throw new TenancyError('slo_not_found', `tenant ${tenantId} has no SLO named ${name}`);
    return sloStatuses(this.db, defs, this.#now());
  }

  /** The tenant's freeze (cached for a second; every replica reads the same row). */
  async freeze(tenantId: string, db: Kysely<Schema> | Transaction<Schema> = this.db): Promise<FreezeState> {
    const hit = this.#frozen.get(tenantId);
    const now = Date.now();
    if (hit && now - hit.at < 1_000) return hit.state;
    const row = await db
      .selectFrom('slo_tenant_states')
      .select(['frozen', 'frozen_since', 'flags_off'])
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    let slos: string[] = [];
    if (row?.frozen) {
      const states = await db
        .selectFrom('slo_states')
        .select(['name', 'state'])
        .where('tenant_id', '=', tenantId)
        .execute();
      slos = states.filter((s) => (s.state as unknown as StoredSloState).budget === 'exhausted').map((s) => s.name);
    }
    const state: FreezeState = {
      frozen: row?.frozen ?? false,
      since: row?.frozen_since ? new Date(row.frozen_since).toISOString() : null,
      slos,
      flagsOff: (row?.flags_off as string[] | undefined) ?? [],
    };
    if (this.#frozen.size > 50_000) this.#frozen.clear();
    this.#frozen.set(tenantId, { at: now, state });
    return state;
  }

  /** The frozen tenants among `tenantIds` (or all of them). */
  async frozenTenants(tenantIds?: readonly string[]): Promise<string[]> {
    if (tenantIds !== undefined && tenantIds.length === 0) return [];
    let q = this.db.selectFrom('slo_tenant_states').select('tenant_id').where('frozen', '=', true);
    if (tenantIds !== undefined) q = q.where('tenant_id', 'in', [...tenantIds]);
    return (await q.orderBy('tenant_id').execute()).map((r) => r.tenant_id);
  }

  /** The experimental flags a violated latency SLO holds off (cached for a second). */
  async flagsOff(tenantId: string): Promise<readonly string[]> {
    return (await this.freeze(tenantId)).flagsOff;
  }

  /** Whether the tenant's error budget is exhausted now (cached for a second). */
  async frozen(tenantId: string, trx?: Transaction<Schema>): Promise<boolean> {
    return (await this.freeze(tenantId, trx)).frozen;
  }

  /**
   * Refuse risky changes of a frozen tenant (409 `error_budget_exhausted`), unless an
   * override reason is given (its role was checked by the HTTP layer): then audit it.
   */
  async check(
    trx: Transaction<Schema> | undefined,
    actor: Actor,
    tenantId: string,
    kinds: readonly RiskyChange[],
    override: string | undefined,
  ): Promise<void> {
    if (kinds.length === 0) return;
    const state = await this.freeze(tenantId, trx);
    if (!state.frozen) return;
    if (override !== undefined) {
      const entry = {
        action: 'slo.freeze_override',
        target: `tenant/${tenantId}`,
        tenantId,
        outcome: 'success' as const,
        details: { reason: override, changes: [...kinds], slos: state.slos, frozenSince: state.since },
      };
      if (trx) await this.audit.append(trx, actor, entry);
      else await this.audit.record(actor, entry);
      return;
    }
    throw new TenancyError(
      'error_budget_exhausted',
      `tenant ${tenantId} has exhausted its error budget (${state.slos.join(', ') || 'an SLO'}): ${kinds.join(', ')} ` +
        'is refused until it recovers; its owner or a platform admin may override with Tenancy-Freeze-Override: <reason>',
      { extensions: { tenantId, changes: [...kinds], slos: state.slos, frozenSince: state.since } },
    );
  }

  /** Start evaluating every `evaluateIntervalMs`. */
  start(): void {
    const every = this.options.evaluateIntervalMs ?? 30_000;
    if (every <= 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.evaluate()
        .then(() => undefined)
        .catch((e) => this.options.onError?.(e))
        .finally(() => {
          this.#running = undefined;
        });
    }, every);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await this.slis.close();
  }

  /**
   * Evaluate every tenant's SLOs now (after flushing what is buffered): write their state and
   * announce every transition. Returns the statuses; throws (after trying every tenant) when
   * a tenant's state could not be written.
   */
  async evaluate(): Promise<SloStatus[]> {
    const started = performance.now();
    await this.slis.flush();
    const now = this.#now();
    const defs = await this.definitions();
    const statuses = await sloStatuses(this.db, defs, now);
    const byTenant = new Map<string, SloStatus[]>();
    for (const s of statuses) byTenant.set(s.tenantId, [...(byTenant.get(s.tenantId) ?? []), s]);
    // Tenants that had state but no SLO any more are evaluated as healthy (their freeze ends).
    const stale = await this.db.selectFrom('slo_tenant_states').select('tenant_id').execute();
    for (const r of stale) if (!byTenant.has(r.tenant_id)) byTenant.set(r.tenant_id, []);
    // One tenant's failure does not stop the others; all of them are reported at the end.
    const errors: unknown[] = [];
    for (const [tenantId, list] of byTenant) {
      try {
        await this.#apply(tenantId, list, now);
      } catch (error) {
        errors.push(error);
      }
    }
    this.#metrics?.set(statuses, (await this.frozenTenants()).length, (performance.now() - started) / 1000);
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} tenants' SLO state could not be written`);
    return statuses;
  }

  async #apply(tenantId: string, list: SloStatus[], now: number): Promise<void> {
    const changed = await this.db.transaction().execute(async (trx) => {
      const prior = new Map(
        (
          await trx
            .selectFrom('slo_states')
            .select(['name', 'state'])
            .where('tenant_id', '=', tenantId)
            .forUpdate()
            .execute()
        ).map((r) => [r.name, r.state as unknown as StoredSloState]),
      );
      let touched = false;
      const announce = async (type: string, payload: Record<string, unknown>, target: string) => {
        touched = true;
        await this.audit.recordChange(trx, {
          actor: ACTOR,
          action: type,
          target,
          tenantId,
          outcome: 'success',
          details: payload,
          event: { type, tenantId, payload: { tenantId, ...payload } },
        });
      };
      for (const s of list) {
        const before = prior.get(s.name) ?? { alerts: [], budget: 'healthy' };
        const after: StoredSloState = { alerts: s.alerts.map((a) => a.rule), budget: s.errorBudget.status };
        const target = `tenant/${tenantId}/slo/${s.name}`;
        for (const a of s.alerts)
          if (!before.alerts.includes(a.rule))
            await announce(
              'slo.alert.firing',
              { slo: s.name, rule: a.rule, severity: a.severity, burnRates: a.burnRates, threshold: a.threshold },
              target,
            );
        for (const rule of before.alerts)
          if (!after.alerts.includes(rule)) await announce('slo.alert.resolved', { slo: s.name, rule }, target);
        if (after.budget === 'exhausted' && before.budget !== 'exhausted')
          await announce(
            'slo.budget.exhausted',
            { slo: s.name, sli: s.sli, target: s.spec.target, errorBudget: s.errorBudget },
            target,
          );
        if (!prior.has(s.name) || before.budget !== after.budget || before.alerts.join() !== after.alerts.join())
          await trx
            .insertInto('slo_states')
            .values({ tenant_id: tenantId, name: s.name, state: json(after), updated_at: new Date(now).toISOString() })
            .onConflict((oc) =>
              oc
                .columns(['tenant_id', 'name'])
                .doUpdateSet({ state: json(after), updated_at: new Date(now).toISOString() }),
            )
            .execute();
      }
      const names = list.map((s) => s.name);
      let del = trx.deleteFrom('slo_states').where('tenant_id', '=', tenantId);
      if (names.length > 0) del = del.where('name', 'not in', names);
      await del.execute();
      const state = await this.#tenantState(trx, tenantId, list, now, announce);
      return { touched: touched || state.changed, conditions: state.conditions };
    });
    if (changed.touched) this.#frozen.delete(tenantId);
    if (changed.conditions) this.registry.notify(tenantId, 'controller');
  }

  /** The tenant's freeze and degradation, with hysteresis on the way out of a degradation. */
  async #tenantState(
    trx: Transaction<Schema>,
    tenantId: string,
    list: SloStatus[],
    now: number,
    announce: (type: string, payload: Record<string, unknown>, target: string) => Promise<void>,
  ): Promise<{ changed: boolean; conditions: boolean }> {
    const row = await trx
      .selectFrom('slo_tenant_states')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .forUpdate()
      .executeTakeFirst();
    const exhausted = list.filter((s) => s.errorBudget.status === 'exhausted').map((s) => s.name);
    const latencyBad = list
      .filter((s) => s.spec.objective === 'latency' && (s.alerts.length > 0 || s.errorBudget.status === 'exhausted'))
      .map((s) => s.name);
    const frozen = exhausted.length > 0;
    const wasFrozen = row?.frozen ?? false;
    const wasDegraded = row?.degraded ?? false;
    const healthySince =
      latencyBad.length > 0 ? null : row?.healthy_since ? new Date(row.healthy_since).getTime() : now;
    const recover = this.options.recoverAfterMs ?? 600_000;
    const degraded = latencyBad.length > 0 || (wasDegraded && healthySince !== null && now - healthySince < recover);
    const target = `tenant/${tenantId}`;
    if (frozen && !wasFrozen) await announce('slo.freeze.started', { slos: exhausted }, target);
    if (!frozen && wasFrozen) await announce('slo.freeze.ended', {}, target);
    const flagsOff = degraded ? await experimentalFlags(trx, tenantId) : [];
    if (degraded && !wasDegraded) await announce('slo.degraded.started', { slos: latencyBad, flagsOff }, target);
    if (!degraded && wasDegraded) await announce('slo.degraded.ended', {}, target);
    const iso = (t: number) => new Date(t).toISOString();
    const next = {
      frozen,
      frozen_since: frozen
        ? wasFrozen && row?.frozen_since
          ? iso(new Date(row.frozen_since).getTime())
          : iso(now)
        : null,
      degraded,
      degraded_since: degraded
        ? wasDegraded && row?.degraded_since
          ? iso(new Date(row.degraded_since).getTime())
          : iso(now)
        : null,
      healthy_since: healthySince === null ? null : iso(healthySince),
      flags_off: json(flagsOff),
      updated_at: iso(now),
    };
    if (!row && !frozen && !degraded && list.length === 0) return { changed: false, conditions: false };
    if (row && list.length === 0 && !frozen && !degraded) {
      await trx.deleteFrom('slo_tenant_states').where('tenant_id', '=', tenantId).execute();
    } else
      await trx
        .insertInto('slo_tenant_states')
        .values({ tenant_id: tenantId, ...next })
        .onConflict((oc) => oc.column('tenant_id').doUpdateSet(next))
        .execute();
    // The tenant's conditions say so too (re-asserted every evaluation, whoever wrote last).
    const conditions = await tenantConditions(trx, tenantId, { lock: true });
    let wrote = false;
    if (conditions) {
      let updated = sloConditions(conditions, { frozen, exhausted, degraded, latencyBad }, new Date(now));
      if (list.length === 0 && !row)
        updated = updated.filter((c) => c.type !== 'ErrorBudgetExhausted' && c.type !== 'LatencyDegraded');
      if (JSON.stringify(updated) !== JSON.stringify(conditions)) {
        await writeObservedState(trx, tenantId, { conditions: updated });
        wrote = true;
      }
    }
    const flagsChanged = JSON.stringify(flagsOff) !== JSON.stringify(row?.flags_off ?? []);
    return {
      changed: frozen !== wasFrozen || degraded !== wasDegraded || flagsChanged,
      conditions: wrote || flagsChanged,
    };
  }
}
