/**
 * A tenant's audit records over a time range, counted in one grouped query: by outcome, by
 * action, and denials by action and reason (the `reason` a denial records, else its `code`),
 * so reports need not page through every record.
 */
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../schema.js';

/** What {@link summarizeAudit} counts. */
export interface AuditSummary {
  /** Records of the tenant in the range. */
  records: number;
  byOutcome: { success: number; denied: number; failure: number };
  /** Records by action and outcome, most frequent first. */
  actions: Array<{ action: string; outcome: string; count: number }>;
  /** Denied records by action and reason, most frequent first. */
  denied: Array<{ action: string; reason: string; count: number }>;
}

/** Count `tenantId`'s audit records with `since <= ts < until`. */
export async function summarizeAudit(
  db: Kysely<Schema>,
  filter: { tenantId: string; since: Date; until: Date },
): Promise<AuditSummary> {
  const rows = await sql<{ outcome: string; action: string; reason: string | null; n: string | number }>`
    select outcome,
           action,
           case when outcome = 'denied'
                then coalesce(details->>'reason', details->>'code', 'unspecified') end as reason,
           count(*) as n
      from audit_log
     where tenant_id = ${filter.tenantId} and ts >= ${filter.since} and ts < ${filter.until}
     group by 1, 2, 3`.execute(db);
  const summary: AuditSummary = {
    records: 0,
    byOutcome: { success: 0, denied: 0, failure: 0 },
    actions: [],
    denied: [],
  };
  const actions = new Map<string, { action: string; outcome: string; count: number }>();
  for (const r of rows.rows) {
    const n = Number(r.n);
    summary.records += n;
    if (r.outcome === 'success' || r.outcome === 'denied' || r.outcome === 'failure') summary.byOutcome[r.outcome] += n;
    if (r.outcome === 'denied') summary.denied.push({ action: r.action, reason: r.reason!, count: n });
    const key = `${r.action}\u0000${r.outcome}`;
    const entry = actions.get(key) ?? { action: r.action, outcome: r.outcome, count: 0 };
    entry.count += n;
    actions.set(key, entry);
  }
  const order = (a: { count: number; action: string }, b: { count: number; action: string }) =>
    b.count - a.count || a.action.localeCompare(b.action);
  summary.actions = [...actions.values()].sort((a, b) => order(a, b) || a.outcome.localeCompare(b.outcome));
  summary.denied.sort((a, b) => order(a, b) || a.reason.localeCompare(b.reason));
  return summary;
}
