/**
 * Policies: tenants' signed policies (CEL rules over declared request fields), committed
 * in four reported stages (parse, validate, sandbox, commit) as immutable versions,
 * evaluated on a cached fast path, rolled out as canaries, and compared across tenants
 * for conflicts. Also the tenants' Ed25519 policy signing keys, and the approval of
 * commits for tenants whose governance requires `policyChange`.
 */
export { PolicyService } from './policy-service.js';
export { STAGES } from './policy-stages.js';
export type { SampleResult, StageName, StageReport } from './policy-stages.js';
export { purgeTenantPolicies, DEFAULT_ROLLOUT_STEPS } from './policy-store.js';
export type { ApprovalStatus, PolicyInfo, PolicyVersionInfo, RolloutInfo } from './policy-store.js';
export { allowlistOf } from './policy-prepare.js';
export type { PreparedPolicy } from './policy-prepare.js';
export type {
  ApprovalGate,
  CommitOptions,
  CommitResult,
  PolicyApprovalRequester,
  PolicyChangeRequest,
  PolicySubmission,
} from './policy-commit.js';
export { rolloutBucket } from './policy-rollout.js';
export type { EvaluateInput, EvaluateResult, PolicyDecision } from './policy-evaluator.js';
export { registerPolicyApprovals, POLICY_CHANGE_APPLIER } from './policy-approvals.js';
export { PolicyKeyStore, parsePublicKey, POLICY_KEY_ID_PATTERN } from './policy-keys.js';
export type { PolicyKeyInfo } from './policy-keys.js';
export { findPolicyConflicts } from './policy-conflicts.js';
export type { PolicyConflict } from './policy-conflicts.js';
export { signPolicy, verifyPolicySignature, signedPayload, policyDigest } from './policy-signature.js';
export { runSandbox, DEFAULT_SANDBOX_LIMITS } from './policy-sandbox.js';
export type { SandboxLimits, SandboxOutcome } from './policy-sandbox.js';
export { compileRules, checkRules, parseRules, CEL_LIMITS } from './policy-engine.js';
export type { CompiledPolicy, Decision } from './policy-engine.js';
export {
  policyInputSchema,
  policySpecSchema,
  policyNameSchema,
  namespaceIdSchema,
  semverSchema,
  sampleSchema,
  POLICY_NAME_PATTERN,
  NAMESPACE_ID_PATTERN,
  RULE_KIND_PATTERN,
  RESERVED_POLICY_NAMES,
  FIELD_TYPES,
} from './policy-schema.js';
export type { PolicyInput, PolicyBody, PolicyRule, PolicySample, FieldSchema, FieldType } from './policy-schema.js';
