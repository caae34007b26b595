/**
 * Governance (on top of the change ledger in `ledger/`), one folder per feature: webhooks
 * (signed deliveries with retries; `webhooks/`), policies (signed, four-stage commit, canary
 * rollout, evaluation; `policies/`), approvals (a change put behind an approver, announced
 * through notifiers, exported as a PDF; `approvals/`), data-sovereignty rules and their one
 * evaluator (`sovereignty/`), lineage records (`lineage/`), and the drift map (`drift/`).
 */
export { ReceiverGuard } from './webhooks/webhook-receiver-guard.js';
export type { ReceiverPolicy } from './webhooks/webhook-receiver-guard.js';
export { newSigningSecret, signatureHeader } from './webhooks/webhook-signing.js';
export { WebhookStore } from './webhooks/webhook-store.js';
export { webhookNotFound, WEBHOOK_ID_PATTERN } from './webhooks/webhook-rows.js';
export type { WebhookInfo, NewWebhook, WebhookChanges } from './webhooks/webhook-rows.js';
export { DELIVERY_ID_PATTERN } from './webhooks/webhook-deliveries.js';
export type { DeliveryInfo, DeliveryAttempt } from './webhooks/webhook-deliveries.js';
export { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';
export { retryAfterMs } from './webhooks/webhook-attempt.js';
export type { WebhookDispatcherOptions } from './webhooks/webhook-dispatcher.js';
export { ApprovalGate } from './approvals/approval-gate.js';
export {
  approvalStale,
  approvalNotFound,
  APPROVAL_KINDS,
  APPROVER_ROLES,
  APPROVAL_STATUSES,
  APPROVAL_ID_PATTERN,
} from './approvals/approval-model.js';
export type {
  Approval,
  ApprovalKind,
  ApproverRole,
  ApprovalStatus,
  ApprovalRequest,
  ApprovalApplier,
  StagedApprovalApplier,
  ApprovalFilter,
  Decider,
} from './approvals/approval-model.js';
export { ApprovalAnnouncer } from './approvals/approval-notifier.js';
export { approvalNotifiersFrom, type ApprovalNotifierSettings } from './approvals/approval-notifiers.js';
export type { ApprovalNotifier, ApprovalNotice, ApprovalAnnouncerOptions } from './approvals/approval-notifier.js';
export { WebhookApprovalNotifier } from './approvals/approval-webhook-notifier.js';
export type { WebhookApprovalNotifierOptions } from './approvals/approval-webhook-notifier.js';
export { EmailApprovalNotifier } from './approvals/approval-email-notifier.js';
export type { EmailApprovalNotifierOptions } from './approvals/approval-email-notifier.js';
export { approvalReportPdf } from './approvals/approval-report.js';
export {
  sovereigntySpecSchema,
  evaluateSovereignty,
  transitViolations,
  sovereigntyRefusal,
  atRestLevelOf,
  AT_REST_LEVELS,
} from './sovereignty/sovereignty.js';
export type {
  SovereigntyRules,
  SovereigntyFacts,
  SovereigntyOperation,
  SovereigntyViolation,
  AtRestLevel,
} from './sovereignty/sovereignty.js';
export {
  SOVEREIGNTY_REFUSAL_ACTION,
  SOVEREIGNTY_REFUSAL_CODES,
  isSovereigntyRefusal,
  refusalViolations,
} from './sovereignty/sovereignty-refusals.js';
export type { RecordedViolation } from './sovereignty/sovereignty-refusals.js';
export {
  LineageStore,
  purgeTenantLineage,
  lineageBatchSchema,
  lineageRecordSchema,
  MAX_LINEAGE_BATCH,
} from './lineage/lineage-store.js';
export type { LineageRecord, LineageInput, LineageFilter } from './lineage/lineage-store.js';
export { computeDrift, slope, DRIFT_STDDEV_FLOOR, DRIFT_THRESHOLD, POLICY_COMMITTED_TYPES } from './drift/drift.js';
export type { TenantDrift, PolicyConflictSource } from './drift/drift.js';
export {
  PolicyService,
  registerPolicyApprovals,
  POLICY_CHANGE_APPLIER,
  PolicyKeyStore,
  purgeTenantPolicies,
  findPolicyConflicts,
  signPolicy,
  verifyPolicySignature,
  signedPayload,
  policyDigest,
  runSandbox,
  compileRules,
  rolloutBucket,
  allowlistOf,
  parsePublicKey,
  policyInputSchema,
  policySpecSchema,
  policyNameSchema,
  namespaceIdSchema,
  semverSchema,
  sampleSchema,
  STAGES,
  DEFAULT_ROLLOUT_STEPS,
  DEFAULT_SANDBOX_LIMITS,
  RESERVED_POLICY_NAMES,
  POLICY_KEY_ID_PATTERN,
  RULE_KIND_PATTERN,
} from './policies/index.js';
export type {
  PolicyConflict,
  PolicyInfo,
  PolicyVersionInfo,
  PolicyKeyInfo,
  PreparedPolicy,
  CommitResult,
  CommitOptions,
  EvaluateInput,
  EvaluateResult,
  StageReport,
  SampleResult,
  RolloutInfo,
  ApprovalGate as PolicyApprovalCheck,
  PolicyApprovalRequester,
  PolicyChangeRequest,
  PolicySubmission,
  ApprovalStatus as PolicyApprovalStatus,
  SandboxLimits,
  CompiledPolicy,
  Decision,
  PolicyBody,
} from './policies/index.js';
