/**
 * The weekly compliance report of one tenant, as the API answers it in JSON (the PDF and the
 * CLI's text print the same fields).
 */

/**
 * One SLO: its status at the report's moment over its own rolling window, and its SLI over the
 * week itself. Of a week that has ended, a rolling window that cannot be read any more (an SLO
 * of up to three days, read at hour resolution) has null counts and budget, and `alerts` is
 * null (the week's alerts are in {@link SloSection.events}).
 */
export interface SloAttainment {
  name: string;
  objective: string;
  /** The target as written (for `errorRate`, the bad share allowed). */
  target: number;
  /** The share of good events the SLO asks for. */
  goodTarget: number;
  window: string;
  source: string;
  description?: string;
  /** Over the SLO's rolling window ending at the report's moment. */
  rolling: {
    from: string;
    to: string;
    events: number | null;
    good: number | null;
    sli: number | null;
    attained: boolean | null;
  };
  /** Over the ISO week (up to the report's moment while the week runs). */
  week: { from: string; to: string; events: number; good: number; sli: number | null; attained: boolean | null };
  /** Over the rolling window. */
  errorBudget: {
    unit: 'minutes' | 'events';
    total: number;
    consumed: number;
    remaining: number;
    consumedRatio: number;
    status: 'healthy' | 'warning' | 'exhausted';
  } | null;
  /** Burn-rate alerts firing now, while the week runs. */
  alerts: Array<{ rule: string; severity: string }> | null;
}

/** The tenant's SLOs. */
export interface SloSection {
  count: number;
  /** SLOs whose rolling SLI met the target, missed it, or had no events. */
  attained: number;
  missed: number;
  noData: number;
  items: SloAttainment[];
  /** What the SLO evaluator announced during the week (its audited events). */
  events: { alertsFired: number; budgetsExhausted: number; freezesStarted: number; degradationsStarted: number };
  note?: string;
}

/** Requests refused to the tenant's callers (roles, phase, visibility, app-recorded denials). */
export interface DenialSection {
  total: number;
  /** The ten most frequent action and reason pairs. */
  top: Array<{ action: string; reason: string; count: number }>;
  /** Denials outside the top ten. */
  others: number;
}

/** Operations refused because the tenant's data-sovereignty rules forbid them. */
export interface SovereigntySection {
  refusals: number;
  byCode: Array<{ code: string; count: number }>;
  /** The week's first refusals (at most 50), with the rules each broke. */
  items: Array<{
    seq: number;
    ts: string;
    actor: string;
    method: string;
    path: string;
    code: string;
    violations: Array<{ code: string; path: string; rule: string; detail: string }>;
  }>;
}

/** The audit chain's verification, and the tenant's share of the week's records. */
export interface AuditChainSection {
  /** Whether the whole chain (every tenant's records, checkpoints and anchors) checked out. */
  ok: boolean;
  /** The first sequence number that did not check out (null when ok). */
  firstBadSeq: number | null;
  reason?: string;
  verifiedAt: string;
  tenantRecords: number;
  tenantRecordsByOutcome: { success: number; denied: number; failure: number };
}

/** A document the retrieval guard quarantined during the week. */
export interface QuarantinedDocument {
  id: string;
  ingestedAt: string;
  trustScore: number;
  reasons: string[];
  source: string;
  released: boolean;
}

/** The quarantined documents of the tenant's corpora. */
export interface QuarantineSection {
  /** False when the tenant is not active: its corpora are not opened. */
  available: boolean;
  note?: string;
  /** Quarantined now, over every corpus. */
  total: number;
  /** Of those, ingested during the week. */
  duringWeek: number;
  corpora: Array<{ name: string; quarantined: number; duringWeek: QuarantinedDocument[] }>;
}

/** The weekly compliance report of one tenant. */
export interface ComplianceReport {
  kind: 'ComplianceReport';
  tenant: { id: string; name: string; plan: string; phase: string };
  week: { id: string; from: string; to: string; complete: boolean };
  /** The moment the report describes: the end of the week, or the generation time while the week runs. */
  asOf: string;
  generatedAt: string;
  controlPlane: { version: string };
  slos: SloSection;
  denials: DenialSection;
  sovereignty: SovereigntySection;
  auditChain: AuditChainSection;
  quarantine: QuarantineSection;
}
