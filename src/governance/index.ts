/**
 * Governance: the hash-chained audit log (written in the same transaction as every change)
 * and the event outbox. Policies, sovereignty and webhooks join this module later.
 */
export { AuditLog, ChainVerifier, verifyAuditLog, recordHash, canonicalRecord, GENESIS_HASH, CHECKPOINT_INTERVAL } from './audit-log.js';
export type { Actor, AuditEntry, AuditRecord, AuditVerification } from './audit-log.js';
export { addEvent, readEvents } from './event-outbox.js';
export type { OutboxEvent, StoredEvent } from './event-outbox.js';
