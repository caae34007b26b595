/**
 * The running control plane's handle and its start-up options (the composition root,
 * `control-plane.ts`, builds one).
 */
import type { SloService } from './slo/index.js';
import type { RetrievalStore } from './retrieval/index.js';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { ApiKeyStore } from './access/index.js';
import type { ModelCatalogue, ModelRouter } from './ai/index.js';
import type { QuotaStore, UsageSampler, UsageStore } from './commercial/index.js';
import type { JobStore, MigrationRuns, TenantController } from './controller/index.js';
import type {
  ApprovalAnnouncer,
  ApprovalGate,
  ApprovalNotifier,
  LineageStore,
  PolicyConflictSource,
  PolicyKeyStore,
  PolicyService,
  WebhookDispatcher,
  WebhookStore,
} from './governance/index.js';
import type { EventBus } from './infra/bus/index.js';
import type { ObjectStore } from './infra/objects/index.js';
import type { JobQueue } from './infra/queue/index.js';
import type { Database } from './infra/sql/index.js';
import type { TenantObjects, TenantResources } from './isolation/index.js';
import type { KeyRing, PlatformSecretStore, SecretStore } from './keys/index.js';
import type { AuditLog, EventRelay } from './ledger/index.js';
import type { Schema } from './schema.js';
import type { TenantRegistry } from './tenants/index.js';

/** What a process serves: everything, or only the model router's API (stateless; no controller, relay or workers). */
export type ServeRole = 'all' | 'gateway';

/** A running control plane. */
export interface ControlPlane {
  /** What this process serves. */
  role: ServeRole;
  /** The model router and its catalogue. */
  modelRouter: ModelRouter;
  modelCatalogue: ModelCatalogue;
  platformSecrets: PlatformSecretStore;
  app: FastifyInstance;
  database: Database<Schema>;
  registry: TenantRegistry;
  audit: AuditLog;
  apiKeys: ApiKeyStore;
  controller: TenantController;
  keyRing: KeyRing;
  secrets: SecretStore;
  objects: ObjectStore;
  queue: JobQueue;
  jobs: JobStore;
  migrations: MigrationRuns;
  resources: TenantResources;
  /** The event bus (in-process, or NATS JetStream); subscribe here to receive published CloudEvents. */
  bus: EventBus;
  /** Publishes the outbox to the bus. */
  relay: EventRelay;
  webhooks: WebhookStore;
  /** Policies: four-stage commit, evaluation, canary rollout. */
  policies: PolicyService;
  /** Tenants' policy signing keys. */
  policyKeys: PolicyKeyStore;
  /** Sends webhook deliveries. */
  dispatcher: WebhookDispatcher;
  /** Meters, rollups and the cost report. */
  usage: UsageStore;
  /** Quota accounting: counts, storage, monthly cost. */
  quotas: QuotaStore;
  /** The control plane's own metering (jobs, storage samples). */
  sampler: UsageSampler;
  /** Tenant object handles (storage quota applied). */
  tenantObjects: TenantObjects;
  /** Approval requests and decisions; tenant changes (`tenant.change`) and policy commits (`policyChange`) are registered appliers. */
  approvals: ApprovalGate;
  /** Announces approvals through the configured notifiers. */
  announcer: ApprovalAnnouncer;
  lineage: LineageStore;
  /** SLOs: status, the evaluator, the freeze. */
  slo: SloService;
  /** Tenants' corpora and the retrieval guard. */
  retrieval: RetrievalStore;
  /** Base URL it listens on. */
  url: string;
  /** Where a generated admin token was written, if one was generated now. */
  adminKeyFile: string | undefined;
  close(): Promise<void>;
}

/** Start-up options beyond configuration. */
export interface StartOptions {
  /** What to serve (default all). */
  role?: ServeRole;
  /** The SLO evaluator's clock and pace (tests drive them). */
  slo?: { now?: () => number; evaluateIntervalMs?: number; recoverAfterMs?: number; flushIntervalMs?: number };
  logger?: FastifyServerOptions['logger'];
  /** Use an in-memory PGlite instead of the data dir (tests). */
  inMemory?: boolean;
  /** Do not listen (tests use `app.inject`). */
  listen?: boolean;
  controllerResyncMs?: number;
  /** How often the relay looks for unpublished events (default 200 ms). */
  relayPollIntervalMs?: number;
  /**
   * Subscribe to the bus before the relay starts, so in-process subscribers also receive
   * the backlog a previous run left unpublished.
   */
  subscribe?: (bus: EventBus) => Promise<void>;
  /** How often the webhook worker looks for due deliveries (default 500 ms; new events wake it at once). */
  webhookPollIntervalMs?: number;
  /** Do not start the usage sampler's timer (tests run passes with `sampler.runOnce()`). */
  manualSampler?: boolean;
  /** Where the drift map gets conflicts between tenant policies (the policy service). */
  policyConflicts?: PolicyConflictSource;
  /** Notifiers used instead of those built from configuration (webhook, SMTP). */
  approvalNotifiers?: ApprovalNotifier[];
  /** Waits before each retry of a failed approval notice. */
  approvalNoticeRetryScheduleMs?: number[];
  /** How often audit checkpoints are anchored while records are appended (default 2,000 ms; 0 = every 100 records and at close only). */
  auditAnchorIntervalMs?: number;
}
