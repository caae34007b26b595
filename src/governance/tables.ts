/**
 * The governance module's tables: webhooks and their deliveries, approvals, lineage, and
 * signed policies (keys, versions, heads, samples).
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { ColumnType } from 'kysely';
import type { Json, Timestamp } from '../infra/sql/column-types.js';

/** `webhooks`: receiver endpoints, platform-wide (`tenant_id` null) or one tenant's. */
export interface WebhooksTable {
  id: string;
  tenant_id: string | null;
  url: string;
  event_types: Json<string[]>;
  enabled: boolean;
  description: string | null;
  disabled_reason: string | null;
  /** The signing secret, sealed with the tenant's key ring (or the platform key). */
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: Timestamp | null;
  secret_rotated_at: Timestamp | null;
  created_at: Timestamp;
  created_by: string;
  updated_at: Timestamp;
}

/** `webhook_deliveries`: one event for one endpoint, until it succeeds or gives up. */
export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  tenant_id: string | null;
  event_id: string;
  event_seq: ColumnType<string | number, number, never>;
  event_type: string;
  body: string;
  status: 'pending' | 'succeeded' | 'failed' | 'dead';
  attempts: number;
  next_attempt_at: Timestamp | null;
  claim_token: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** `webhook_attempts`: the log of every delivery attempt. */
export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  started_at: Timestamp;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  outcome: string;
  next_retry_at: Timestamp | null;
}

/** `approvals`: changes waiting for (or decided by) an approver. */
export interface ApprovalsTable {
  id: string;
  tenant_id: string;
  kind: string;
  kinds: Json<string[]>;
  applier: string;
  status: string;
  summary: string;
  payload: Json<Record<string, unknown>>;
  base: Json<Record<string, unknown>>;
  requested_by: string;
  requested_role: string | null;
  requested_at: Timestamp;
  correlation_id: string | null;
  decided_by: string | null;
  decided_role: string | null;
  decided_at: Timestamp | null;
  decision_reason: string | null;
  result: Json<Record<string, unknown> | null>;
  approver_roles: Json<string[]>;
  notify: Json<{ email?: string[] }>;
  /** The status the notifiers were last told about (null: not yet). */
  notified_status: string | null;
  notify_attempts: ColumnType<number, number | undefined, number>;
  notify_after: Timestamp | null;
  notify_error: string | null;
}

/** `lineage_records`: where a tenant's answers came from, with their trust scores. */
export interface LineageRecordsTable {
  id: string;
  tenant_id: string;
  domain: string;
  usecase: string;
  source_id: string;
  query_id: string;
  chunk_id: string | null;
  trust_score: number;
  agent_id: string | null;
  policy_version: string | null;
  ts: Timestamp;
  recorded_at: Timestamp;
  recorded_by: string;
}

/** `policy_keys`: a tenant's Ed25519 public keys that sign its policies. */
export interface PolicyKeysTable {
  tenant_id: string;
  id: string;
  public_key_pem: string;
  jwk: Json<Record<string, unknown>>;
  description: string | null;
  created_at: Timestamp;
  created_by: string;
}

/** `policy_versions`: committed policy versions; immutable (a trigger refuses UPDATE and DELETE). */
export interface PolicyVersionsTable {
  tenant_id: string;
  name: string;
  version: number;
  domain_id: string;
  usecase_id: string;
  semver: string;
  body: Json<Record<string, unknown>>;
  digest: string;
  key_id: string;
  signature: string;
  approval_status: string;
  approval_ref: string | null;
  source: string | null;
  committed_at: Timestamp;
  committed_by: string;
}

/** `policy_heads`: per policy, the stable version and any canary rollout in progress. */
export interface PolicyHeadsTable {
  tenant_id: string;
  name: string;
  domain_id: string;
  usecase_id: string;
  latest_version: number;
  stable_version: number;
  canary_version: number | null;
  canary_by: 'traffic' | 'tenant' | null;
  canary_steps: ColumnType<number[] | null, string | null, string | null>;
  canary_step: number | null;
  rollout_id: string | null;
  rollout_started_at: Timestamp | null;
  updated_at: Timestamp;
}

/** `policy_samples`: recorded sample requests the sandbox evaluates before a commit. */
export interface PolicySamplesTable {
  tenant_id: string;
  domain_id: string;
  usecase_id: string;
  name: string;
  request: Json<Record<string, unknown>>;
  expect: 'allow' | 'deny' | null;
  created_at: Timestamp;
  created_by: string;
}

/** The tables governance owns. */
export interface GovernanceTables {
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  approvals: ApprovalsTable;
  lineage_records: LineageRecordsTable;
  policy_keys: PolicyKeysTable;
  policy_versions: PolicyVersionsTable;
  policy_heads: PolicyHeadsTable;
  policy_samples: PolicySamplesTable;
}
