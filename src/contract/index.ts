/**
 * The wire contract the control plane and the SDK share: the error catalogue (every code, its
 * status and title), problem documents, and the shapes both sides put on the wire. It imports
 * no module of the product, so the SDK can use it without carrying the server.
 */
export { ERROR_CATALOGUE, type ErrorCode, type ErrorEntry, errorEntry, isErrorCode } from './error-catalogue.js';
export {
  internalProblem,
  PROBLEM_CONTENT_TYPE,
  type Problem,
  problem,
  problemOf,
  problemTitle,
  problemType,
} from './problem.js';
export { credentialRefusal, TENANT_PHASES, type TenantPhase } from './tenant-phase.js';
export type { AuditRecord, CountedQuota, DatabaseConnection, QuotaStatus, QuotaUse } from './wire.js';
export { API_KEY_PREFIX, bearerCredential, describeJoseError, isJwt, MAX_CREDENTIAL_LENGTH } from './credentials.js';
export {
  LATENCY_BOUNDS_MS,
  BUCKETS as LATENCY_BUCKETS,
  bucketOf,
  emptyHistogram,
  addInto,
  countAtOrUnder,
} from './latency-histogram.js';
