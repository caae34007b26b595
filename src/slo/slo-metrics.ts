/**
 * SLO metrics on `/metrics`, set at every evaluation. The `tenant` label is bounded: only the
 * `maxSlos` SLOs with the most error budget consumed (default 1,000) keep their series, so a
 * platform of any size exports at most that many per metric; `tenancy_slo_tracked` says how
 * many SLOs there are in all.
 */
import { Gauge, Histogram, type Registry } from 'prom-client';
import { BURN_WINDOWS, type SloStatus } from './slo-status.js';

/** The gauges the evaluator sets. */
export class SloMetrics {
  readonly #sli: Gauge<'tenant' | 'slo' | 'objective'>;
  readonly #consumed: Gauge<'tenant' | 'slo'>;
  readonly #burn: Gauge<'tenant' | 'slo' | 'window'>;
  readonly #alerts: Gauge<'tenant' | 'slo' | 'rule'>;
  readonly #events: Gauge<'tenant' | 'slo' | 'window'>;
  readonly #minEvents: Gauge<'tenant' | 'slo'>;
  readonly #tracked: Gauge;
  readonly #frozen: Gauge;
  readonly #duration: Histogram;

  constructor(
    registry: Registry,
    private readonly maxSlos = 1_000,
  ) {
    const registers = [registry];
    this.#sli = new Gauge({
      name: 'tenancy_slo_sli',
      help: "The SLI over the SLO's window (share of good events)",
      labelNames: ['tenant', 'slo', 'objective'] as const,
      registers,
    });
    this.#consumed = new Gauge({
      name: 'tenancy_slo_error_budget_consumed_ratio',
      help: 'Share of the error budget consumed over the window (1: exhausted)',
      labelNames: ['tenant', 'slo'] as const,
      registers,
    });
    this.#burn = new Gauge({
      name: 'tenancy_slo_burn_rate',
      help: 'Error-budget burn rate over a window (1: the budget lasts exactly the SLO window)',
      labelNames: ['tenant', 'slo', 'window'] as const,
      registers,
    });
    this.#alerts = new Gauge({
      name: 'tenancy_slo_alert_firing',
      help: 'Multi-window burn-rate alerts firing (1) per SLO and rule',
      labelNames: ['tenant', 'slo', 'rule'] as const,
      registers,
    });
    this.#events = new Gauge({
      name: 'tenancy_slo_window_events',
      help: 'Events counted over a burn-rate window',
      labelNames: ['tenant', 'slo', 'window'] as const,
      registers,
    });
    this.#minEvents = new Gauge({
      name: 'tenancy_slo_min_events',
      help: "Events an alert window needs before it may fire (the SLO's minEvents)",
      labelNames: ['tenant', 'slo'] as const,
      registers,
    });
    this.#tracked = new Gauge({ name: 'tenancy_slo_tracked', help: 'SLOs evaluated', registers });
    this.#frozen = new Gauge({
      name: 'tenancy_slo_frozen_tenants',
      help: 'Tenants whose risky changes are frozen (error budget exhausted)',
      registers,
    });
    this.#duration = new Histogram({
      name: 'tenancy_slo_evaluation_seconds',
      help: "Time to evaluate every tenant's SLOs",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  /** Replace the series with these statuses (the worst `maxSlos` of them). */
  set(statuses: readonly SloStatus[], frozenTenants: number, seconds: number): void {
    for (const g of [this.#sli, this.#consumed, this.#burn, this.#alerts, this.#events, this.#minEvents]) g.reset();
    this.#tracked.set(statuses.length);
    this.#frozen.set(frozenTenants);
    this.#duration.observe(seconds);
    const worst = [...statuses]
      .sort((a, b) => b.errorBudget.consumedRatio - a.errorBudget.consumedRatio)
      .slice(0, this.maxSlos);
    for (const s of worst) {
      const base = { tenant: s.tenantId, slo: s.name };
      if (s.sli !== null) this.#sli.set({ ...base, objective: s.spec.objective }, s.sli);
      this.#consumed.set(base, s.errorBudget.consumedRatio);
      this.#minEvents.set(base, s.spec.minEvents);
      for (const w of BURN_WINDOWS) {
        this.#events.set({ ...base, window: w }, s.events[w]);
        const r = s.burnRates[w];
        if (r !== null) this.#burn.set({ ...base, window: w }, r);
      }
      for (const a of s.alerts) this.#alerts.set({ ...base, rule: a.rule }, 1);
    }
  }
}
