/**
 * The change ledger, below every domain module: the hash-chained audit log (its signed
 * checkpoints anchored outside the database), the transactional event outbox, CloudEvents,
 * and the relay that publishes the outbox on the bus. A change is recorded with one call,
 * `AuditLog.recordChange(trx, {actor, action, target, tenantId, outcome, details, event})`,
 * in the caller's transaction.
 */
export { AuditLog } from './audit-log.js';
export {
  ChainVerifier,
  recordHash,
  recordLink,
  canonicalRecord,
  checkpointPayload,
  GENESIS_HASH,
  CHECKPOINT_INTERVAL,
  CHAIN_KEY_LABEL,
} from './audit-chain.js';
export { verifyAuditLog } from './audit-verify.js';
export { summarizeAudit } from './audit-summary.js';
export type { AuditSummary } from './audit-summary.js';
export type { Actor } from './types.js';
export type {
  AuditEntry,
  AuditRecord,
  AuditVerification,
  AnchorCheck,
  AnchoringOptions,
  Change,
} from './audit-types.js';
export type { ChainVerifierOptions } from './audit-chain.js';
export type { VerifyOptions } from './audit-verify.js';
export {
  FileAnchorStore,
  ObjectAnchorStore,
  auditAnchorStores,
  parseAnchor,
  AUDIT_ANCHOR_BUCKET,
  AUDIT_ANCHOR_FILE,
} from './audit-anchors.js';
export type { AnchorStore, AuditAnchor, ListedAnchor } from './audit-anchors.js';
export { addEvent, readEvents, listEvents, eventHead, countEventsByTenant } from './event-outbox.js';
export type { OutboxEvent, StoredEvent, EventFilter } from './event-outbox.js';
export {
  toCloudEvent,
  cloudEventType,
  typeMatches,
  sequenceOf,
  TYPE_FILTER_PATTERN,
  PLATFORM_KEY,
  CLOUDEVENTS_JSON,
} from './cloud-event.js';
export type { CloudEvent } from './cloud-event.js';
export { EventRelay } from './event-relay.js';
export type { EventRelayOptions, PublishedHook } from './event-relay.js';
export {
  IdempotencyStore,
  type IdempotentRequest,
  type ResponseSealer,
  type StoredAnswer,
} from './idempotency-store.js';
