/**
 * Builds a tenant's weekly compliance report from the stores that hold each fact: its SLO
 * documents and the SLI buckets (`slo`), its audit records of the week (`ledger`: denials,
 * data-sovereignty refusals and the SLO evaluator's events, counted in one grouped query),
 * the audit chain's verification, and its corpora's quarantined documents (`retrieval`, read
 * in the tenant's own place).
 */
import type { Kysely } from 'kysely';
import { SOVEREIGNTY_REFUSAL_ACTION, type RecordedViolation } from '../governance/index.js';
import { summarizeAudit, type AuditLog, type AuditSummary, type AuditVerification } from '../ledger/index.js';
import type { RetrievalStore } from '../retrieval/index.js';
import type { Schema } from '../schema.js';
import type { SloService } from '../slo/index.js';
import { isTenancyError } from '../errors.js';
import type { Tenant, TenantRegistry } from '../tenants/index.js';
import type {
  AuditChainSection,
  ComplianceReport,
  DenialSection,
  QuarantineSection,
  SloSection,
  SovereigntySection,
} from './compliance-types.js';
import type { IsoWeek } from './iso-week.js';
import { sloAttainment } from './slo-attainment.js';

const PAGE = 500;
/** How long one verification of the audit chain answers for every report. */
const CHAIN_CHECK_TTL_MS = 60_000;

/** What the reports read. */
export interface ComplianceDeps {
  db: Kysely<Schema>;
  registry: TenantRegistry;
  audit: AuditLog;
  retrieval: RetrievalStore;
  slo: SloService;
  version: string;
}

/** Weekly compliance reports; one verification of the audit chain serves every report for a minute. */
export class ComplianceReports {
  #chain: { at: number; result: Promise<AuditVerification> } | undefined;

  constructor(private readonly deps: ComplianceDeps) {}

  /** The report of tenant `tenantId` for `week`, as of its end (or now, while it runs); 404 for an unknown tenant. */
  async build(tenantId: string, week: IsoWeek, now = Date.now()): Promise<ComplianceReport> {
    const tenant = await this.deps.registry.get(tenantId);
    const complete = week.to.getTime() <= now;
    const asOf = complete ? week.to.getTime() - 1 : now;
    const range = { tenantId, since: week.from, until: new Date(Math.min(week.to.getTime(), now + 1)) };
    const summary = await summarizeAudit(this.deps.db, range);
    const slos = await this.#slos(tenant, week, asOf, now, summary);
    const sovereignty = await this.#sovereignty(range, summary.denied);
    const quarantine = await this.#quarantine(tenant, week);
    const check = this.#verifyChain(now);
    const chain = await check.result;
    const auditChain: AuditChainSection = {
      ok: chain.ok,
      firstBadSeq: chain.ok ? null : chain.seq,
      ...(chain.ok ? {} : { reason: chain.reason }),
      verifiedAt: new Date(check.at).toISOString(),
      tenantRecords: summary.records,
      tenantRecordsByOutcome: summary.byOutcome,
    };
    return {
      kind: 'ComplianceReport',
      tenant: { id: tenant.metadata.id, name: tenant.spec.name, plan: tenant.spec.plan, phase: tenant.status.phase },
      week: { id: week.id, from: week.from.toISOString(), to: week.to.toISOString(), complete },
      asOf: new Date(asOf).toISOString(),
      generatedAt: new Date(now).toISOString(),
      controlPlane: { version: this.deps.version },
      slos,
      denials: denials(summary.denied),
      sovereignty,
      auditChain,
      quarantine,
    };
  }

  /** Verify the whole chain, at most once a minute; concurrent reports share one pass. */
  #verifyChain(now: number): { at: number; result: Promise<AuditVerification> } {
    if (!this.#chain || now - this.#chain.at >= CHAIN_CHECK_TTL_MS) {
      const result = this.deps.audit.verify();
      this.#chain = { at: now, result };
      // A pass that throws (the store unreachable) is not kept: the next report tries again.
      result.catch(() => {
        if (this.#chain?.result === result) this.#chain = undefined;
      });
    }
    return this.#chain;
  }

  async #slos(tenant: Tenant, week: IsoWeek, asOf: number, now: number, summary: AuditSummary): Promise<SloSection> {
    // SLI events of the last seconds are still in memory: count them too.
    await this.deps.slo.slis.flush();
    const definitions = await this.deps.slo.definitions([tenant.metadata.id]);
    const items = await sloAttainment(this.deps.db, definitions, week, asOf, now);
    const events = (action: string) =>
      summary.actions.filter((a) => a.action === action).reduce((n, a) => n + a.count, 0);
    return {
      count: items.length,
      attained: items.filter((s) => s.rolling.attained === true).length,
      missed: items.filter((s) => s.rolling.attained === false).length,
      noData: items.filter((s) => s.rolling.attained === null).length,
      items,
      events: {
        alertsFired: events('slo.alert.firing'),
        budgetsExhausted: events('slo.budget.exhausted'),
        freezesStarted: events('slo.freeze.started'),
        degradationsStarted: events('slo.degraded.started'),
      },
      ...(items.length === 0 ? { note: 'the tenant has no SLOs' } : {}),
    };
  }

  async #sovereignty(
    range: { tenantId: string; since: Date; until: Date },
    denied: Array<{ action: string; reason: string; count: number }>,
  ): Promise<SovereigntySection> {
    const groups = denied.filter((d) => d.action === SOVEREIGNTY_REFUSAL_ACTION);
    const refusals = groups.reduce((n, g) => n + g.count, 0);
    const records =
      refusals === 0 ? [] : await this.deps.audit.list({ ...range, action: SOVEREIGNTY_REFUSAL_ACTION, limit: 50 });
    return {
      refusals,
      byCode: groups.map((g) => ({ code: g.reason, count: g.count })),
      items: records.map((r) => ({
        seq: r.seq,
        ts: r.ts,
        actor: r.actor,
        method: String(r.details.method ?? ''),
        path: String(r.details.path ?? r.target),
        code: String(r.details.code ?? ''),
        violations: Array.isArray(r.details.violations) ? (r.details.violations as RecordedViolation[]) : [],
      })),
    };
  }

  async #quarantine(tenant: Tenant, week: IsoWeek): Promise<QuarantineSection> {
    const id = tenant.metadata.id;
    const phase = tenant.status.phase;
    const closed = (why: string): QuarantineSection => ({
      available: false,
      note: why,
      total: 0,
      duringWeek: 0,
      corpora: [],
    });
    if (phase !== 'active') return closed(`the tenant is ${phase}: its corpora are not opened`);
    const corpora: QuarantineSection['corpora'] = [];
    try {
      for (const corpus of await this.deps.retrieval.listCorpora(id)) {
        let quarantined = 0;
        const duringWeek: QuarantineSection['corpora'][number]['duringWeek'] = [];
        let after: string | undefined;
        for (;;) {
          const page = await this.deps.retrieval.quarantine(id, corpus.name, PAGE, after);
          quarantined += page.length;
          for (const d of page) {
            const at = Date.parse(d.ingestedAt);
            if (at >= week.from.getTime() && at < week.to.getTime())
              duringWeek.push({
                id: d.id,
                ingestedAt: d.ingestedAt,
                trustScore: d.trustScore,
                reasons: d.reasons,
                source: d.source.uri,
                released: d.released !== undefined,
              });
          }
          if (page.length < PAGE) break;
          after = page[page.length - 1]!.id;
        }
        duringWeek.sort((a, b) => a.ingestedAt.localeCompare(b.ingestedAt) || a.id.localeCompare(b.id));
        corpora.push({ name: corpus.name, quarantined, duringWeek });
      }
    } catch (error) {
      // The tenant left `active` while the report was read.
      if (isTenancyError(error) && error.status === 409) return closed(error.detail);
      throw error;
    }
    return {
      available: true,
      total: corpora.reduce((n, c) => n + c.quarantined, 0),
      duringWeek: corpora.reduce((n, c) => n + c.duringWeek.length, 0),
      corpora,
    };
  }
}

/** The week's denials other than data-sovereignty refusals (reported on their own): totals and the top ten. */
function denials(denied: Array<{ action: string; reason: string; count: number }>): DenialSection {
  const rest = denied.filter((d) => d.action !== SOVEREIGNTY_REFUSAL_ACTION);
  const total = rest.reduce((n, d) => n + d.count, 0);
  const top = rest.slice(0, 10);
  return { total, top, others: total - top.reduce((n, d) => n + d.count, 0) };
}
