/**
 * A compliance report as titled blocks of plain lines: the PDF sets them in type and the CLI
 * prints them, so both say the same thing in the same order.
 */
import type { ComplianceReport } from './compliance-types.js';

/** One titled block of lines. */
export interface ReportBlock {
  title: string;
  lines: string[];
}

const pct = (v: number | null) => (v === null ? 'no data' : `${(v * 100).toFixed(3)}%`);
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
const pad = (s: string, n: number) => (s.length >= n ? `${s} ` : s.padEnd(n));

/** The report's header and its sections, in order. */
export function complianceReportBlocks(r: ComplianceReport): ReportBlock[] {
  const header: ReportBlock = {
    title: `Compliance report ${r.tenant.id} ${r.week.id}`,
    lines: [
      `Tenant:        ${r.tenant.id} (${r.tenant.name})`,
      `Plan:          ${r.tenant.plan}, phase ${r.tenant.phase}`,
      `Week:          ${r.week.id}, ${r.week.from} to ${r.week.to}${r.week.complete ? '' : ' (in progress)'}`,
      `As of:         ${r.asOf}`,
      `Generated at:  ${r.generatedAt}`,
      `Control plane: Tenancy ${r.controlPlane.version}`,
    ],
  };

  const slo: string[] = [];
  if (r.slos.note) slo.push(r.slos.note);
  else
    slo.push(
      `${r.slos.count} SLO(s): ${r.slos.attained} attained, ${r.slos.missed} missed, ${r.slos.noData} without data`,
    );
  for (const s of r.slos.items) {
    slo.push('');
    slo.push(`${s.name}: ${s.objective} >= ${pct(s.goodTarget)} over ${s.window} (source ${s.source})`);
    slo.push(
      `  ${pad(`${s.window} to ${r.week.complete ? 'week end' : 'now'}`, 18)}SLI ${pad(pct(s.rolling.sli), 12)}${pad(verdict(s.rolling.attained), 13)}${s.rolling.events === null ? 'not readable any more' : `${s.rolling.events} events`}`,
    );
    slo.push(
      `  ${pad('this week', 18)}SLI ${pad(pct(s.week.sli), 12)}${pad(verdict(s.week.attained), 13)}${s.week.events} events`,
    );
    const b = s.errorBudget;
    if (b)
      slo.push(
        `  error budget: ${b.status}, ${num(b.consumed)} of ${num(b.total)} ${b.unit} consumed (${(b.consumedRatio * 100).toFixed(1)}%), ${num(b.remaining)} left`,
      );
    if (s.alerts && s.alerts.length > 0)
      slo.push(`  alerts firing now: ${s.alerts.map((a) => `${a.rule} (${a.severity})`).join(', ')}`);
  }
  const e = r.slos.events;
  slo.push(
    '',
    `this week: ${e.alertsFired} alert(s) fired, ${e.budgetsExhausted} budget(s) exhausted, ${e.freezesStarted} freeze(s) and ${e.degradationsStarted} latency degradation(s) started`,
  );

  const denied = [`${r.denials.total} denied request(s)`];
  if (r.denials.top.length > 0) {
    denied.push('', `${pad('COUNT', 8)}${pad('ACTION', 28)}REASON`);
    for (const d of r.denials.top) denied.push(`${pad(String(d.count), 8)}${pad(d.action, 28)}${d.reason}`);
    if (r.denials.others > 0) denied.push(`${pad(String(r.denials.others), 8)}(others)`);
  }

  const sov = [
    `${r.sovereignty.refusals} refusal(s)${r.sovereignty.byCode.length > 0 ? `: ${r.sovereignty.byCode.map((c) => `${c.count} ${c.code}`).join(', ')}` : ''}`,
  ];
  for (const i of r.sovereignty.items) {
    sov.push(`#${i.seq} ${i.ts} ${i.method} ${i.path} by ${i.actor}: ${i.code}`);
    for (const v of i.violations) sov.push(`    ${v.rule || v.path}: ${v.detail}`);
  }
  if (r.sovereignty.refusals > r.sovereignty.items.length)
    sov.push(`(${r.sovereignty.refusals - r.sovereignty.items.length} more)`);

  const c = r.auditChain;
  const chain = [
    c.ok ? 'chain verified: ok' : `chain verification FAILED at seq ${c.firstBadSeq}: ${c.reason ?? ''}`,
    `verified at ${c.verifiedAt}`,
    `the tenant's records this week: ${c.tenantRecords} (${c.tenantRecordsByOutcome.success} success, ${c.tenantRecordsByOutcome.denied} denied, ${c.tenantRecordsByOutcome.failure} failure)`,
  ];

  const q = r.quarantine;
  const quarantine: string[] = [];
  if (!q.available) quarantine.push(`not read: ${q.note ?? 'unavailable'}`);
  else {
    quarantine.push(
      q.corpora.length === 0
        ? 'the tenant has no corpora'
        : `${q.total} quarantined document(s), ${q.duringWeek} of them ingested this week`,
    );
    for (const corpus of q.corpora) {
      quarantine.push(
        '',
        `corpus ${corpus.name}: ${corpus.quarantined} quarantined, ${corpus.duringWeek.length} this week`,
      );
      for (const d of corpus.duringWeek)
        quarantine.push(
          `  ${d.id}  ${d.ingestedAt}  trust ${d.trustScore.toFixed(3)}  ${d.reasons.join(', ') || '-'}${d.released ? '  (released)' : ''}`,
          `    ${d.source}`,
        );
    }
  }

  return [
    header,
    { title: 'SLO attainment and error budgets', lines: slo },
    { title: 'Denials', lines: denied },
    { title: 'Data-sovereignty refusals', lines: sov },
    { title: 'Audit chain', lines: chain },
    { title: 'Quarantined documents', lines: quarantine },
  ];
}

function verdict(a: boolean | null): string {
  return a === null ? '-' : a ? 'attained' : 'MISSED';
}
