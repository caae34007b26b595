/**
 * Governance (on top of the change ledger in `ledger/`): webhooks (signed deliveries with retries), policies (signed, four-stage commit, canary
 * rollout, evaluation; see `policies/`), approvals (a change put behind an approver,
 * announced through notifiers, exported as a PDF), data-sovereignty rules and their one
 * evaluator, lineage records, and the drift map.
 */
export { ReceiverGuard } from './webhook-receiver-guard.js';
export type { ReceiverPolicy } from './webhook-receiver-guard.js';
export { newSigningSecret, signatureHeader } from './webhook-signing.js';
export { WebhookStore, webhookNotFound, WEBHOOK_ID_PATTERN, DELIVERY_ID_PATTERN } from './webhook-store.js';
export type { WebhookInfo, DeliveryInfo, DeliveryAttempt, NewWebhook, WebhookChanges } from './webhook-store.js';
export { WebhookDispatcher, retryAfterMs } from './webhook-dispatcher.js';
export type { WebhookDispatcherOptions } from './webhook-dispatcher.js';
export {
  ApprovalGate,
  approvalStale,
  approvalNotFound,
  APPROVAL_KINDS,
  APPROVER_ROLES,
  APPROVAL_STATUSES,
  APPROVAL_ID_PATTERN,
} from './approval-gate.js';
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
} from './approval-gate.js';
export { ApprovalAnnouncer } from './approval-notifier.js';
export type { ApprovalNotifier, ApprovalNotice, ApprovalAnnouncerOptions } from './approval-notifier.js';
export { WebhookApprovalNotifier } from './approval-webhook-notifier.js';
export type { WebhookApprovalNotifierOptions } from './approval-webhook-notifier.js';
export { EmailApprovalNotifier } from './approval-email-notifier.js';
export type { EmailApprovalNotifierOptions } from './approval-email-notifier.js';
export { approvalReportPdf } from './approval-report.js';
export {
  sovereigntySpecSchema,
  evaluateSovereignty,
  transitViolations,
  sovereigntyRefusal,
  atRestLevelOf,
  AT_REST_LEVELS,
} from './sovereignty.js';
export type {
  SovereigntyRules,
  SovereigntyFacts,
  SovereigntyOperation,
  SovereigntyViolation,
  AtRestLevel,
} from './sovereignty.js';
export {
  LineageStore,
  purgeTenantLineage,
  lineageBatchSchema,
  lineageRecordSchema,
  MAX_LINEAGE_BATCH,
} from './lineage-store.js';
export type { LineageRecord, LineageInput, LineageFilter } from './lineage-store.js';
export { computeDrift, slope, DRIFT_STDDEV_FLOOR, DRIFT_THRESHOLD, POLICY_COMMITTED_TYPES } from './drift.js';
export type { TenantDrift, PolicyConflictSource } from './drift.js';
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
