/**
 * The shape of the control plane's configuration, and the flags that override the environment.
 */

/** Settings the control plane runs with. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  /** A role owning the store's schema (`TENANCY_DATABASE_OWNER_URL`, same database): runs migrations, grants `databaseUrl`'s role what it needs; unset = one role owns all. */
  databaseOwnerUrl: string | undefined;
  adminToken: string | undefined;
  signingKeyFile: string;
  /** Root key file (`TENANCY_ROOT_KEY_FILE`); unset = `<data dir>/root.key`, generated on first start. */
  rootKeyFile: string | undefined;
  /** Root key as base64 (`TENANCY_ROOT_KEY`); wins over the file. */
  rootKey: string | undefined;
  /** S3-protocol object store (`TENANCY_S3_URL`); unset = files under the data dir. */
  s3Url: string | undefined;
  /** NATS JetStream (`TENANCY_NATS_URL`); unset = the queue persisted in the store. */
  natsUrl: string | undefined;
  /** PostgreSQL warehouse for tenant databases (`TENANCY_WAREHOUSE_URL`, a superuser or CREATEROLE+CREATEDB role). */
  warehouseUrl: string | undefined;
  /**
   * Prefix for tenant role and database names (`TENANCY_WAREHOUSE_ROLE_PREFIX`); unset: the
   * installation's own prefix on PostgreSQL (decided once and stored), none on the embedded engine.
   */
  warehouseRolePrefix: string | undefined;
  /** Longest one statement in a session as a tenant (migrations, archive, move) may run (`TENANCY_TENANT_STATEMENT_TIMEOUT_SECONDS`). */
  tenantStatementTimeoutSeconds: number;
  /** The app's SQL migrations, applied to every tenant's database (`TENANCY_APP_MIGRATIONS`); unset = none. */
  appMigrations: string | undefined;
  /** The environment this control plane serves (`TENANCY_ENVIRONMENT`), recorded with every applied migration. */
  environment: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Longest a client may take to send one request, headers and body (`TENANCY_REQUEST_TIMEOUT_SECONDS`). */
  requestTimeoutMs: number;
  controllerConcurrency: number;
  resyncIntervalSeconds: number;
  /** This installation's name (`TENANCY_INSTANCE`); CloudEvents `source` is `/tenancy/<instance>`. */
  instance: string;
  /** Per-attempt webhook timeout (`TENANCY_WEBHOOK_TIMEOUT_SECONDS`). */
  webhookTimeoutMs: number;
  /** Waits before each retry of a failed delivery (`TENANCY_WEBHOOK_RETRY_SCHEDULE`); after the last, a delivery is dead. */
  webhookRetryScheduleMs: number[];
  /** Allow receivers on private, loopback and link-local addresses (`TENANCY_WEBHOOK_ALLOW_PRIVATE`). */
  webhookAllowPrivate: boolean;
  /** Let st-byoc database URLs point at loopback or private addresses (`TENANCY_BYOC_ALLOW_PRIVATE`). */
  byocAllowPrivate: boolean;
  /** Let model providers' base URLs point at loopback or private addresses (`TENANCY_ROUTER_ALLOW_PRIVATE`). */
  routerAllowPrivate: boolean;
  /** Where the model router's budget ledger lives (`TENANCY_ROUTER_LEDGER`): the store, or Redis (default when `TENANCY_REDIS_URL` is set). */
  routerLedger: 'store' | 'redis';
  /** Where retrieval answers are cached (`TENANCY_RETRIEVAL_CACHE`): memory (default), Redis (default when `TENANCY_REDIS_URL` is set), or off. */
  retrievalCache: 'memory' | 'redis' | 'off';
  /** How long a cached retrieval answer lives (`TENANCY_RETRIEVAL_CACHE_TTL_SECONDS`, default 60). */
  retrievalCacheTtlMs: number;
  /** Time between SLO evaluations (`TENANCY_SLO_EVALUATE_INTERVAL_SECONDS`, default 30; 0: off). */
  sloEvaluateIntervalMs: number;
  /** Redis (`TENANCY_REDIS_URL`): the model router's budget ledger when `routerLedger` is redis. */
  redisUrl: string | undefined;
  /** Address ranges allowed even though not public (`TENANCY_WEBHOOK_ALLOWED_CIDRS`). */
  webhookAllowedCidrs: string[];
  /** How long a rotated-out signing secret still signs (`TENANCY_WEBHOOK_SECRET_OVERLAP_SECONDS`). */
  webhookSecretOverlapSeconds: number;
  /** Prices for the cost-allocation report and cost quota (`TENANCY_USAGE_PRICES`, JSON); unset = only `cost_usd` meters cost money. */
  usagePrices: string | undefined;
  /** Days raw meters are kept, and how late one may arrive (`TENANCY_USAGE_RAW_RETENTION_DAYS`); rollups are kept. */
  usageRawRetentionDays: number;
  /** Seconds between the control plane's own metering passes (`TENANCY_USAGE_SAMPLE_INTERVAL_SECONDS`): jobs, storage. */
  usageSampleIntervalSeconds: number;
  /** SMTP server approval e-mails go through (`TENANCY_SMTP_URL`, smtp:// or smtps://); unset = no e-mail. */
  smtpUrl: string | undefined;
  /** Sender of approval e-mails (`TENANCY_APPROVALS_FROM`). */
  approvalsFrom: string;
  /** Recipients of every approval e-mail besides the tenant's own (`TENANCY_APPROVALS_TO`, comma-separated). */
  approvalsTo: string[];
  /** Receiver of signed approval notices (`TENANCY_APPROVALS_WEBHOOK_URL`); unset = none. */
  approvalsWebhookUrl: string | undefined;
  /** Standard Webhooks secret those notices are signed with (`TENANCY_APPROVALS_WEBHOOK_SECRET`, whsec_…). */
  approvalsWebhookSecret: string | undefined;
  /** Base URL links in approval notices start with (`TENANCY_PUBLIC_URL`); unset = the address the server listens on. */
  publicUrl: string | undefined;
  /** Wall-clock limit of one policy sandbox run (`TENANCY_POLICY_SANDBOX_TIMEOUT_MS`). */
  policySandboxTimeoutMs: number;
  /** Heap limit of the policy sandbox worker (`TENANCY_POLICY_SANDBOX_MEMORY_MB`). */
  policySandboxMemoryMb: number;
}

/** Flags given on the command line (they win over the environment). */
export interface ConfigFlags {
  port?: string | undefined;
  host?: string | undefined;
  dataDir?: string | undefined;
}
