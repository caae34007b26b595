/**
 * A tenant's SLOs over an ISO week, read with `sloStatuses` alone.
 *
 * While the week runs, its moment is now: `sloStatuses` at now gives each SLO's status over
 * its own rolling window exactly (SLI, error budget, alerts), and once more with a window
 * that starts on the week's Monday, the week's own SLI.
 *
 * For a week that has ended, the SLI buckets also hold what came after it, and `sloStatuses`
 * sums a window's buckets from its start on. So every count is taken as the difference of
 * two windows ending now, W(a) − W(b) = the events in [a, b): the week is W(Monday) −
 * W(next Monday), and the SLO's rolling window at the week's end is W(its start) −
 * W(next Monday), its start being the one `sloStatuses` gives at the week's end. A window
 * ending now reads hour buckets up to three days and day buckets beyond, so a start that is
 * not midnight (the rolling window of an SLO of up to three days) can be read only within
 * three days; outside, that status is not known. Burn-rate alerts of an ended week are not
 * recomputed (minute buckets are kept three days): the evaluator's audited events say what
 * fired during the week.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../schema.js';
import { goodTarget, sloStatuses, type SloDefinition, type SloSpec, type SloStatus } from '../slo/index.js';
// A leaf of the SLO module that its index does not name: the window's length as the budget counts it.
import { windowMs } from '../slo/slo-schema.js';
import type { SloAttainment } from './compliance-types.js';
import type { IsoWeek } from './iso-week.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * The window string that makes `sloStatuses` at `at` read from exactly `start` on: hours up
 * to three days, days beyond when `start` is a midnight (UTC); undefined when none does.
 */
export function windowSince(start: number, at: number): string | undefined {
  const hours = Math.floor((at - start) / HOUR_MS) + 1;
  if (start % HOUR_MS === 0 && hours >= 1 && hours <= 72) return `${hours}h`;
  if (start % DAY_MS === 0 && hours > 72) return `${Math.floor((at - start) / DAY_MS) + 1}d`;
  return undefined;
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;
const attained = (sli: number | null, spec: SloSpec) => (sli === null ? null : sli >= goodTarget(spec));

/** The error budget of `events` and `good` over an SLO's window, as `sloStatuses` works it out. */
function budget(spec: SloSpec, events: number, good: number): NonNullable<SloAttainment['errorBudget']> {
  const windowMinutes = windowMs(spec.window)! / 60_000;
  const allowed = 1 - goodTarget(spec);
  const badShare = events > 0 ? (events - good) / events : 0;
  const unit = spec.objective === 'availability' ? ('minutes' as const) : ('events' as const);
  const total = unit === 'minutes' ? windowMinutes * allowed : events * allowed;
  const consumed = unit === 'minutes' ? windowMinutes * badShare : events - good;
  const ratio = events > 0 ? badShare / allowed : 0;
  const enough = events >= spec.minEvents;
  return {
    unit,
    total: round(total),
    consumed: round(consumed),
    remaining: round(total - consumed),
    consumedRatio: round(ratio),
    status: enough && ratio >= 1 ? 'exhausted' : enough && ratio >= 0.75 ? 'warning' : 'healthy',
  };
}

function line(
  d: SloDefinition,
  rolling: SloAttainment['rolling'],
  week: SloAttainment['week'],
  errorBudget: SloAttainment['errorBudget'] | null,
  alerts: SloAttainment['alerts'] | null,
): SloAttainment {
  return {
    name: d.name,
    objective: d.spec.objective,
    target: d.spec.target,
    goodTarget: goodTarget(d.spec),
    window: d.spec.window,
    source: d.spec.source,
    ...(d.spec.description ? { description: d.spec.description } : {}),
    rolling,
    week,
    errorBudget,
    alerts,
  };
}

/** The SLOs' attainment over `week` as of `asOf` (the week's last millisecond, or `now` while it runs). */
export async function sloAttainment(
  db: Kysely<Schema>,
  definitions: readonly SloDefinition[],
  week: IsoWeek,
  asOf: number,
  now: number,
): Promise<SloAttainment[]> {
  if (definitions.length === 0) return [];
  const tenantIds = [...new Set(definitions.map((d) => d.tenantId))];
  const from = week.from.getTime();
  const to = week.to.getTime();
  const n = definitions.length;
  const withWindow = (d: SloDefinition, window: string): SloDefinition => ({ ...d, spec: { ...d.spec, window } });
  const counts = (s: SloStatus) => ({ events: s.window.events, good: s.window.good });
  const sli = (c: { events: number; good: number }) => (c.events > 0 ? round(c.good / c.events) : null);
  const weekBounds = { from: week.from.toISOString(), to: new Date(asOf + 1).toISOString() };

  if (asOf === now) {
    const statuses = await sloStatuses(
      db,
      [...definitions, ...definitions.map((d) => withWindow(d, windowSince(from, now)!))],
      now,
      { tenantIds },
    );
    return definitions.map((d, i) => {
      const r = statuses[i]!;
      const w = counts(statuses[n + i]!);
      return line(
        d,
        { ...r.window, sli: r.sli, attained: attained(r.sli, d.spec) },
        { ...weekBounds, ...w, sli: sli(w), attained: attained(sli(w), d.spec) },
        r.errorBudget,
        r.alerts.map((a) => ({ rule: a.rule, severity: a.severity })),
      );
    });
  }

  const atEnd = await sloStatuses(db, definitions, asOf, { tenantIds });
  const starts = atEnd.map((s) => Date.parse(s.window.from));
  // W(Monday) and W(next Monday) of each SLO, then W(start of its rolling window) where readable.
  const virtual = [
    ...definitions.map((d) => withWindow(d, windowSince(from, now)!)),
    ...definitions.map((d) => withWindow(d, windowSince(to, now)!)),
  ];
  const rollingAt = definitions.map((d, i) => {
    const window = windowSince(starts[i]!, now);
    if (window === undefined) return undefined;
    virtual.push(withWindow(d, window));
    return virtual.length - 1;
  });
  const sinceNow = (await sloStatuses(db, virtual, now, { tenantIds })).map(counts);
  const minus = (a: { events: number; good: number }, b: { events: number; good: number }) => ({
    events: a.events - b.events,
    good: round(a.good - b.good),
  });
  return definitions.map((d, i) => {
    const tail = sinceNow[n + i]!;
    const w = minus(sinceNow[i]!, tail);
    const at = rollingAt[i];
    const r = at === undefined ? undefined : minus(sinceNow[at]!, tail);
    return line(
      d,
      {
        from: atEnd[i]!.window.from,
        to: week.to.toISOString(),
        events: r?.events ?? null,
        good: r?.good ?? null,
        sli: r ? sli(r) : null,
        attained: r ? attained(sli(r), d.spec) : null,
      },
      { ...weekBounds, ...w, sli: sli(w), attained: attained(sli(w), d.spec) },
      r ? budget(d.spec, r.events, r.good) : null,
      null,
    );
  });
}
