/**
 * Row types of the control-plane store, as Kysely sees them.
 * One schema for PGlite and PostgreSQL; JSON columns are written through {@link json}.
 */
import type { ColumnType, Generated } from 'kysely';
import type { QueueTables } from '../queue/tables.js';
import type { Json, Timestamp } from './column-types.js';

/** `tenants`: desired state (spec, generation) and observed state (phase, conditions). */
export interface TenantsTable {
  id: string;
  uid: string;
  generation: number;
  spec: Json<Record<string, unknown>>;
  labels: Json<Record<string, string>>;
  plan: string;
  profile: string;
  region: string;
  phase: string;
  observed_generation: number;
  conditions: Json<unknown[]>;
  status_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: Timestamp | null;
  purge_after: Timestamp | null;
  purged_at: Timestamp | null;
  /** The profile the tenant's resources are placed under (null until provisioned). */
  placed_profile: ColumnType<string | null, string | null | undefined, string | null>;
  /** The profile a move left behind, until its resources are removed. */
  moving_from: ColumnType<string | null, string | null | undefined, string | null>;
  /** The profile a move in progress copies to, until its cut-over or its abandonment. */
  moving_to: ColumnType<string | null, string | null | undefined, string | null>;
  /** The phase the controller's resource steps last ran for (null: never). */
  resources_phase: ColumnType<string | null, string | null | undefined, string | null>;
  /** The generation the controller's resource steps last ran for (null: never). */
  resources_generation: ColumnType<number | null, number | null | undefined, number | null>;
}

/** `tenant_documents`: the GitOps folder's extra files (features, router, sovereignty, policies). */
export interface TenantDocumentsTable {
  tenant_id: string;
  kind: string;
  name: string;
  spec: Json<Record<string, unknown>>;
  source: string | null;
  updated_at: Timestamp;
}

/** `api_keys`: credentials, stored as hashes of their secret part. */
export interface ApiKeysTable {
  id: string;
  name: string;
  tenant_id: string | null;
  role: string;
  secret_hash: string;
  created_at: Timestamp;
  created_by: string;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

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

/** `key_ring_meta`: which root key wraps the tenant keys, and a value that proves it. */
export interface KeyRingMetaTable {
  id: string;
  root_key_id: string;
  check_value: string;
  updated_at: Timestamp;
}

/** `tenant_keys`: a tenant's key-encryption-key versions, wrapped by the root key. */
export interface TenantKeysTable {
  tenant_id: string;
  version: number;
  root_key_id: string;
  /** Null once destroyed (crypto-shredding). */
  wrapped_key: string | null;
  state: string;
  created_at: Timestamp;
  retired_at: Timestamp | null;
  destroyed_at: Timestamp | null;
}

/** `tenant_secrets`: versioned secret values, encrypted with the tenant's key. */
export interface TenantSecretsTable {
  tenant_id: string;
  name: string;
  version: number;
  ciphertext: string;
  key_version: number;
  rotation_period_days: number | null;
  rotation_notified_at: Timestamp | null;
  created_at: Timestamp;
  created_by: string;
}

/** `tenant_credentials`: generated resource credentials, encrypted with the tenant's key. */
export interface TenantCredentialsTable {
  tenant_id: string;
  kind: string;
  ciphertext: string;
  updated_at: Timestamp;
}

/** `installation`: this installation's identity (one row). */
export interface InstallationTable {
  singleton: Generated<boolean>;
  installation_id: string;
  /** Prefix of cluster-global names (tenant roles, dedicated databases); null until first decided. */
  warehouse_prefix: string | null;
  created_at: Generated<Timestamp>;
}

/** `warehouse_legacy_roles`: tenants whose roles were made before ownership marks existed. */
export interface WarehouseLegacyRolesTable {
  tenant_id: string;
}

/** `jobs`: long operations (migration runs, archive, restore) with progress. */
export interface JobsTable {
  id: string;
  kind: string;
  tenant_id: string | null;
  state: string;
  progress_done: number;
  progress_total: number;
  attempts: number;
  last_error: string | null;
  params: Json<Record<string, unknown>>;
  result: Json<Record<string, unknown>> | null;
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: Timestamp | null;
}

/** `tenant_migrations`: app migrations applied to each tenant's database, per environment. */
export interface TenantMigrationsTable {
  tenant_id: string;
  environment: string;
  version: string;
  name: string;
  checksum: string;
  applied_at: Timestamp;
  duration_ms: number;
}

/** `tenant_archives`: tenants' exports in cold storage. */
export interface TenantArchivesTable {
  tenant_id: string;
  id: string;
  state: string;
  location: string;
  job_id: string | null;
  manifest: Json<Record<string, unknown>> | null;
  created_at: Timestamp;
  completed_at: Timestamp | null;
  restored_at: Timestamp | null;
}

/** `event_relay_lease`: which replica publishes the outbox, until when. */
export interface EventRelayLeaseTable {
  name: string;
  holder: string;
  lease_until: Timestamp;
}

/** `platform_keys`: the platform's key-encryption-key versions (platform-wide secrets), wrapped by the root key. */
export interface PlatformKeysTable {
  version: number;
  root_key_id: string;
  wrapped_key: string;
  created_at: Timestamp;
}

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

/** `usage_events`: raw meters, unique per tenant by the meter's own id (a repeat is ignored). */
export interface UsageEventsTable {
  tenant_id: string;
  id: string;
  resource: string;
  /** numeric: comes back as a string. */
  amount: ColumnType<string, string | number, string | number>;
  ts: Timestamp;
  source: string;
  recorded_at: Timestamp;
}

/** `usage_rollups`: sums per tenant, resource and hour or day (UTC), kept with the raw events. */
export interface UsageRollupsTable {
  tenant_id: string;
  granularity: 'hour' | 'day';
  bucket_start: Timestamp;
  resource: string;
  amount: ColumnType<string, string | number, string | number>;
  events: number;
  max_amount: ColumnType<string, string | number, string | number>;
  updated_at: Timestamp;
}

/** `quota_counters`: what a tenant uses of a counted quota (users, projects, object bytes). */
export interface QuotaCountersTable {
  tenant_id: string;
  quota: string;
  used: number;
  updated_at: Timestamp;
}

/** `tenant_objects`: objects written through Tenancy's object handles, with their sizes. */
export interface TenantObjectsTable {
  tenant_id: string;
  key: string;
  bytes: number;
  content_type: string;
  etag: string;
  updated_at: Timestamp;
}

/** `quota_alerts`: a quota exceeded in a period, raised (and its event emitted) once. */
export interface QuotaAlertsTable {
  tenant_id: string;
  quota: string;
  period: string;
  limit_value: ColumnType<string, string | number, string | number>;
  current_value: ColumnType<string, string | number, string | number>;
  raised_at: Timestamp;
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

/** The whole control-plane schema. */
export interface Schema extends QueueTables {
  tenants: TenantsTable;
  tenant_documents: TenantDocumentsTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
  audit_checkpoints: AuditCheckpointsTable;
  outbox: OutboxTable;
  idempotency_keys: IdempotencyKeysTable;
  key_ring_meta: KeyRingMetaTable;
  tenant_keys: TenantKeysTable;
  tenant_secrets: TenantSecretsTable;
  tenant_credentials: TenantCredentialsTable;
  installation: InstallationTable;
  warehouse_legacy_roles: WarehouseLegacyRolesTable;
  jobs: JobsTable;
  tenant_migrations: TenantMigrationsTable;
  tenant_archives: TenantArchivesTable;
  event_relay_lease: EventRelayLeaseTable;
  platform_keys: PlatformKeysTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  usage_events: UsageEventsTable;
  usage_rollups: UsageRollupsTable;
  quota_counters: QuotaCountersTable;
  tenant_objects: TenantObjectsTable;
  quota_alerts: QuotaAlertsTable;
  approvals: ApprovalsTable;
  lineage_records: LineageRecordsTable;
  policy_keys: PolicyKeysTable;
  policy_versions: PolicyVersionsTable;
  policy_heads: PolicyHeadsTable;
  policy_samples: PolicySamplesTable;
}
