/**
 * Control-plane configuration from flags and `TENANCY_*` variables, validated in one
 * place: bad configuration stops start-up with one line naming the setting. The shape,
 * the validation and the schedule parsing sit in `config/`; this file reads and maps them.
 */
import { resolve } from 'node:path';
import { configSchema, SETTING_NAMES } from './config/config-schema.js';
import type { Config, ConfigFlags } from './config/config-types.js';
import { DEFAULT_WEBHOOK_RETRY_SCHEDULE, parseSchedule } from './config/schedule.js';
import { TenancyError } from './errors.js';

export type { Config, ConfigFlags } from './config/config-types.js';
export { DEFAULT_WEBHOOK_RETRY_SCHEDULE, parseSchedule } from './config/schedule.js';

const blank = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);

/** A comma-separated list, each item trimmed, empty ones dropped. */
const list = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** Read and validate configuration; throws `invalid_config` with one line on the first problem. */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    port: flags.port ?? blank(env.TENANCY_PORT) ?? '7480',
    host: flags.host ?? blank(env.TENANCY_HOST) ?? '127.0.0.1',
    dataDir: flags.dataDir ?? blank(env.TENANCY_DATA_DIR) ?? '.tenancy',
    databaseUrl: blank(env.TENANCY_DATABASE_URL),
    databaseOwnerUrl: blank(env.TENANCY_DATABASE_OWNER_URL),
    adminToken: blank(env.TENANCY_ADMIN_TOKEN),
    signingKeyFile: blank(env.TENANCY_SIGNING_KEY_FILE),
    rootKeyFile: blank(env.TENANCY_ROOT_KEY_FILE),
    rootKey: blank(env.TENANCY_ROOT_KEY),
    s3Url: blank(env.TENANCY_S3_URL),
    natsUrl: blank(env.TENANCY_NATS_URL),
    warehouseUrl: blank(env.TENANCY_WAREHOUSE_URL),
    warehouseRolePrefix: env.TENANCY_WAREHOUSE_ROLE_PREFIX,
    tenantStatementTimeoutSeconds: blank(env.TENANCY_TENANT_STATEMENT_TIMEOUT_SECONDS) ?? '300',
    appMigrations: blank(env.TENANCY_APP_MIGRATIONS),
    environment: blank(env.TENANCY_ENVIRONMENT) ?? 'prod',
    logLevel: blank(env.TENANCY_LOG_LEVEL) ?? 'info',
    // Long enough for the largest body (16 MiB) at about 0.5 Mbit/s; a stalled upload is cut off after it.
    requestTimeoutSeconds: blank(env.TENANCY_REQUEST_TIMEOUT_SECONDS) ?? '300',
    controllerConcurrency: blank(env.TENANCY_CONTROLLER_CONCURRENCY) ?? '4',
    resyncIntervalSeconds: blank(env.TENANCY_RESYNC_INTERVAL_SECONDS) ?? '30',
    instance: blank(env.TENANCY_INSTANCE) ?? 'default',
    webhookTimeoutSeconds: blank(env.TENANCY_WEBHOOK_TIMEOUT_SECONDS) ?? '10',
    webhookRetrySchedule: blank(env.TENANCY_WEBHOOK_RETRY_SCHEDULE) ?? DEFAULT_WEBHOOK_RETRY_SCHEDULE,
    webhookAllowPrivate: blank(env.TENANCY_WEBHOOK_ALLOW_PRIVATE) ?? 'false',
    byocAllowPrivate: blank(env.TENANCY_BYOC_ALLOW_PRIVATE) ?? 'false',
    routerAllowPrivate: blank(env.TENANCY_ROUTER_ALLOW_PRIVATE) ?? 'false',
    routerLedger: blank(env.TENANCY_ROUTER_LEDGER) ?? (blank(env.TENANCY_REDIS_URL) ? 'redis' : 'store'),
    redisUrl: blank(env.TENANCY_REDIS_URL),
    retrievalCache: blank(env.TENANCY_RETRIEVAL_CACHE) ?? (blank(env.TENANCY_REDIS_URL) ? 'redis' : 'memory'),
    retrievalCacheTtlSeconds: blank(env.TENANCY_RETRIEVAL_CACHE_TTL_SECONDS) ?? '60',
    sloEvaluateIntervalSeconds: blank(env.TENANCY_SLO_EVALUATE_INTERVAL_SECONDS) ?? '30',
    webhookAllowedCidrs: env.TENANCY_WEBHOOK_ALLOWED_CIDRS ?? '',
    webhookSecretOverlapSeconds: blank(env.TENANCY_WEBHOOK_SECRET_OVERLAP_SECONDS) ?? '86400',
    usagePrices: blank(env.TENANCY_USAGE_PRICES),
    usageRawRetentionDays: blank(env.TENANCY_USAGE_RAW_RETENTION_DAYS) ?? '35',
    usageSampleIntervalSeconds: blank(env.TENANCY_USAGE_SAMPLE_INTERVAL_SECONDS) ?? '300',
    smtpUrl: blank(env.TENANCY_SMTP_URL),
    approvalsFrom: blank(env.TENANCY_APPROVALS_FROM) ?? 'Tenancy <approvals@tenancy.invalid>',
    approvalsTo: env.TENANCY_APPROVALS_TO ?? '',
    approvalsWebhookUrl: blank(env.TENANCY_APPROVALS_WEBHOOK_URL),
    approvalsWebhookSecret: blank(env.TENANCY_APPROVALS_WEBHOOK_SECRET),
    publicUrl: blank(env.TENANCY_PUBLIC_URL),
    policySandboxTimeoutMs: blank(env.TENANCY_POLICY_SANDBOX_TIMEOUT_MS) ?? '2000',
    policySandboxMemoryMb: blank(env.TENANCY_POLICY_SANDBOX_MEMORY_MB) ?? '64',
  };
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0]);
    const shown =
      key === 'adminToken' ||
      key === 'databaseUrl' ||
      key === 'databaseOwnerUrl' ||
      key === 'rootKey' ||
      key === 's3Url' ||
      key === 'warehouseUrl' ||
      key === 'smtpUrl' ||
      key === 'approvalsWebhookSecret'
        ? ''
        : ` (got "${String((raw as Record<string, unknown>)[key])}")`;
    throw new TenancyError(
      'invalid_config',
      `invalid configuration: ${SETTING_NAMES[key] ?? key} ${issue.message}${shown}`,
    );
  }
  const c = result.data;
  const dataDir = resolve(c.dataDir);
  return {
    port: c.port,
    host: c.host,
    dataDir,
    databaseUrl: c.databaseUrl,
    databaseOwnerUrl: c.databaseOwnerUrl,
    adminToken: c.adminToken,
    signingKeyFile: resolve(c.signingKeyFile ?? `${dataDir}/signing-keys.json`),
    rootKeyFile: c.rootKeyFile === undefined ? undefined : resolve(c.rootKeyFile),
    rootKey: c.rootKey,
    s3Url: c.s3Url,
    natsUrl: c.natsUrl,
    warehouseUrl: c.warehouseUrl,
    warehouseRolePrefix: c.warehouseRolePrefix,
    tenantStatementTimeoutSeconds: c.tenantStatementTimeoutSeconds,
    appMigrations: c.appMigrations === undefined ? undefined : resolve(c.appMigrations),
    environment: c.environment,
    logLevel: c.logLevel,
    requestTimeoutMs: Math.round(c.requestTimeoutSeconds * 1000),
    controllerConcurrency: c.controllerConcurrency,
    resyncIntervalSeconds: c.resyncIntervalSeconds,
    instance: c.instance,
    webhookTimeoutMs: Math.round(c.webhookTimeoutSeconds * 1000),
    webhookRetryScheduleMs: parseSchedule(c.webhookRetrySchedule)!,
    webhookAllowPrivate: c.webhookAllowPrivate === 'true',
    byocAllowPrivate: c.byocAllowPrivate === 'true',
    routerAllowPrivate: c.routerAllowPrivate === 'true',
    routerLedger: c.routerLedger,
    redisUrl: c.redisUrl,
    retrievalCache: c.retrievalCache,
    retrievalCacheTtlMs: c.retrievalCacheTtlSeconds * 1000,
    sloEvaluateIntervalMs: c.sloEvaluateIntervalSeconds * 1000,
    webhookAllowedCidrs: list(c.webhookAllowedCidrs),
    webhookSecretOverlapSeconds: c.webhookSecretOverlapSeconds,
    usagePrices: c.usagePrices,
    usageRawRetentionDays: c.usageRawRetentionDays,
    usageSampleIntervalSeconds: c.usageSampleIntervalSeconds,
    smtpUrl: c.smtpUrl,
    approvalsFrom: c.approvalsFrom,
    approvalsTo: list(c.approvalsTo),
    approvalsWebhookUrl: c.approvalsWebhookUrl,
    approvalsWebhookSecret: c.approvalsWebhookSecret,
    publicUrl: c.publicUrl,
    policySandboxTimeoutMs: c.policySandboxTimeoutMs,
    policySandboxMemoryMb: c.policySandboxMemoryMb,
  };
}
