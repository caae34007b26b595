/**
 * Compliance: a tenant's weekly compliance report (ISO weeks), put together from the modules
 * that hold each fact (SLO attainment and error budgets, denials, data-sovereignty refusals,
 * the audit chain's verification, quarantined documents), as JSON, text blocks and a PDF.
 * It owns no tables and nothing imports it but the HTTP layer and the CLI.
 */
export { ComplianceReports } from './compliance-report.js';
export { sloAttainment, windowSince } from './slo-attainment.js';
export type { ComplianceDeps } from './compliance-report.js';
export type {
  ComplianceReport,
  SloAttainment,
  SloSection,
  DenialSection,
  SovereigntySection,
  AuditChainSection,
  QuarantineSection,
  QuarantinedDocument,
} from './compliance-types.js';
export { complianceReportBlocks } from './compliance-text.js';
export type { ReportBlock } from './compliance-text.js';
export { complianceReportPdf } from './compliance-pdf.js';
export { isoWeekOf, lastCompleteWeek, parseIsoWeek, weeksInYear } from './iso-week.js';
export type { IsoWeek } from './iso-week.js';
