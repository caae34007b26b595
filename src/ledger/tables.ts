/**
 * The ledger's tables: the hash-chained audit log and its signed checkpoints, the outbox and
 * the lease of the replica that relays it, and the sealed responses of idempotent requests.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { ColumnType, Generated } from 'kysely';
import type { Json, Timestamp } from '../infra/sql/column-types.js';

/** `audit_log`: append-only, hash-chained. */
export interface AuditLogTable {
  seq: ColumnType<string | number, number, never>;
  id: string;
  ts: Timestamp;
  actor: string;
  action: string;
  target: string;
  tenant_id: string | null;
  correlation_id: string | null;
  outcome: string;
  details: Json<Record<string, unknown>>;
  prev_hash: string;
  hash: string;
}

/** `audit_checkpoints`: Ed25519 signatures over the chain head at intervals; append-only. */
export interface AuditCheckpointsTable {
  seq: ColumnType<string | number, number, never>;
  hash: string;
  key_id: string;
  signature: string;
  ts: Timestamp;
  /** First `seq` whose link is keyed (signed with the checkpoint); null on checkpoints written before keyed links. */
  keyed_from: ColumnType<string | number | null, number | null | undefined, never>;
}

/** `outbox`: events written in the same transaction as the change they describe. */
export interface OutboxTable {
  seq: Generated<string | number>;
  id: string;
  type: string;
  tenant_id: string | null;
  correlation_id: string | null;
  payload: Json<Record<string, unknown>>;
  ts: Timestamp;
  published_at: Timestamp | null;
}

/** `event_relay_lease`: which replica publishes the outbox, until when. */
export interface EventRelayLeaseTable {
  name: string;
  holder: string;
  lease_until: Timestamp;
}

/** `idempotency_keys`: the first response to a POST carrying `Idempotency-Key`, sealed with the key ring. */
export interface IdempotencyKeysTable {
  principal: string;
  key: string;
  method: string;
  path: string;
  body_hash: string;
  status_code: number;
  /** The response body, encrypted (purpose `idempotency`) with the tenant's key, or the platform key when `tenant_id` is null. */
  response_ciphertext: string;
  tenant_id: string | null;
  created_at: Timestamp;
}

/** The tables ledger owns. */
export interface LedgerTables {
  audit_log: AuditLogTable;
  audit_checkpoints: AuditCheckpointsTable;
  outbox: OutboxTable;
  event_relay_lease: EventRelayLeaseTable;
  idempotency_keys: IdempotencyKeysTable;
}
