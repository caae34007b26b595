/**
 * The validation of the control plane's configuration (zod): types, ranges and the settings
 * that must be given together.
 */
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { parseSchedule } from './schedule.js';

/**
 * Every setting's validation, on the raw strings from flags and environment; numbers are coerced
 * and the messages name what a setting must be.
 */
export const configSchema = z
  .object({
    port: z.coerce
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(0, 'must be 0..65535')
      .max(65_535, 'must be 0..65535'),
    host: z
      .string()
      .min(1, 'must not be empty')
      .regex(/^[A-Za-z0-9.:\-[\]]+$/, 'must be a host name or IP address'),
    dataDir: z.string().min(1, 'must not be empty'),
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL (leave it unset for the embedded database)')
      .optional(),
    databaseOwnerUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL')
      .optional(),
    adminToken: z
      .string()
      .min(16, 'must be at least 16 characters')
      .max(512, 'must be at most 512 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional(),
    signingKeyFile: z.string().min(1).optional(),
    rootKeyFile: z.string().min(1).optional(),
    rootKey: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be the base64 of 32 bytes')
      .optional(),
    s3Url: z
      .string()
      .regex(/^https?:\/\/[^:@/\s]+:[^@/\s]+@[^/\s]+/, 'must be http(s)://KEY:SECRET@host:port')
      .optional(),
    warehouseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+\/[A-Za-z0-9_]+(\?\S*)?$/, 'must be a postgres:// URL that names a database')
      .optional(),
    warehouseRolePrefix: z
      .string()
      .regex(/^([a-z][a-z0-9_]{0,20})?$/, 'must be empty or a lowercase identifier of up to 21 characters')
      .optional(),
    tenantStatementTimeoutSeconds: z.coerce
      .number({ error: 'must be a number' })
      .min(1, 'must be >= 1')
      .max(86_400, 'must be <= 86400'),
    natsUrl: z
      .string()
      .regex(/^(nats:\/\/)?[A-Za-z0-9.-]+(:\d+)?(,(nats:\/\/)?[A-Za-z0-9.-]+(:\d+)?)*$/, 'must be nats://host:port')
      .optional(),
    appMigrations: z.string().min(1).optional(),
    environment: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be a lowercase name such as prod or staging'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    }),
    requestTimeoutSeconds: z.coerce
      .number({ error: 'must be a number' })
      .min(1, 'must be >= 1')
      .max(3600, 'must be <= 3600'),
    controllerConcurrency: z.coerce.number().int().min(1, 'must be >= 1').max(256, 'must be <= 256'),
    resyncIntervalSeconds: z.coerce.number().min(1, 'must be >= 1').max(86_400, 'must be <= 86400'),
    instance: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label (lowercase letters, digits, "-")'),
    webhookTimeoutSeconds: z.coerce
      .number({ error: 'must be a number' })
      .min(0.05, 'must be >= 0.05')
      .max(300, 'must be <= 300'),
    webhookRetrySchedule: z
      .string()
      .refine(
        (v) => parseSchedule(v) !== undefined,
        'must be comma-separated durations such as 5s,5m,30m,2h (units ms, s, m, h)',
      )
      .refine((v) => (parseSchedule(v)?.length ?? 0) <= 50, 'must have at most 50 steps'),
    webhookAllowPrivate: z.enum(['true', 'false'], { error: 'must be true or false' }),
    byocAllowPrivate: z.enum(['true', 'false'], { error: 'must be true or false' }),
    routerAllowPrivate: z.enum(['true', 'false'], { error: 'must be true or false' }),
    routerLedger: z.enum(['store', 'redis'], { error: 'must be store or redis' }),
    retrievalCache: z.enum(['memory', 'redis', 'off'], { error: 'must be memory, redis or off' }),
    sloEvaluateIntervalSeconds: z.coerce
      .number({ error: 'must be a number of seconds' })
      .int('must be a whole number of seconds')
      .min(0, 'must be 0..3600')
      .max(3600, 'must be 0..3600'),
    retrievalCacheTtlSeconds: z.coerce
      .number({ error: 'must be a number of seconds' })
      .int('must be a whole number of seconds')
      .min(1, 'must be 1..86400')
      .max(86_400, 'must be 1..86400'),
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL')
      .optional(),
    webhookAllowedCidrs: z.string().refine(
      (v) =>
        v
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== '')
          .every((c) => {
            try {
              ipaddr.parseCIDR(c);
              return true;
            } catch {
              return false;
            }
          }),
      'must be comma-separated CIDR ranges such as 10.0.0.0/8,fd00::/8',
    ),
    webhookSecretOverlapSeconds: z.coerce
      .number()
      .int('must be an integer')
      .min(0, 'must be >= 0')
      .max(30 * 86_400, 'must be <= 2592000'),
    usagePrices: z.string().optional(),
    usageRawRetentionDays: z.coerce
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(2, 'must be >= 2')
      .max(3650, 'must be <= 3650'),
    usageSampleIntervalSeconds: z.coerce
      .number({ error: 'must be a number' })
      .min(1, 'must be >= 1')
      .max(3600, 'must be <= 3600'),
    smtpUrl: z
      .string()
      .regex(/^smtps?:\/\/\S+$/, 'must be an smtp:// or smtps:// URL')
      .refine((v) => URL.canParse(v), 'must be a URL')
      .optional(),
    approvalsFrom: z
      .string()
      .min(3)
      .max(320)
      .regex(
        /^[^\r\n]*@[^\r\n]*$/,
        'must be an e-mail address, optionally with a name: "Tenancy <approvals@example.com>"',
      ),
    approvalsTo: z.string().refine(
      (v) =>
        v
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '')
          .every((x) => z.email().safeParse(x).success),
      'must be comma-separated e-mail addresses',
    ),
    approvalsWebhookUrl: z
      .string()
      .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http:// or https:// URL')
      .optional(),
    approvalsWebhookSecret: z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'must be a Standard Webhooks secret: whsec_ and base64')
      .optional(),
    publicUrl: z
      .string()
      .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http:// or https:// URL')
      .optional(),
    policySandboxTimeoutMs: z.coerce
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(50, 'must be >= 50')
      .max(60_000, 'must be <= 60000'),
    policySandboxMemoryMb: z.coerce
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(16, 'must be >= 16')
      .max(1024, 'must be <= 1024'),
  })
  .refine((c) => (c.approvalsWebhookUrl === undefined) === (c.approvalsWebhookSecret === undefined), {
    path: ['approvalsWebhookSecret'],
    message: 'must be set together with TENANCY_APPROVALS_WEBHOOK_URL',
  })
  .refine((c) => c.retrievalCache !== 'redis' || c.redisUrl !== undefined, {
    path: ['retrievalCache'],
    message: 'redis needs TENANCY_REDIS_URL',
  })
  .refine((c) => c.databaseOwnerUrl === undefined || c.databaseUrl !== undefined, {
    path: ['databaseOwnerUrl'],
    message: 'needs TENANCY_DATABASE_URL (the runtime role in the same database)',
  });

/** The flag or variable each setting comes from, to name it in an error. */
export const SETTING_NAMES: Record<string, string> = {
  port: '--port / TENANCY_PORT',
  host: '--host / TENANCY_HOST',
  dataDir: '--data-dir / TENANCY_DATA_DIR',
  databaseUrl: 'TENANCY_DATABASE_URL',
  databaseOwnerUrl: 'TENANCY_DATABASE_OWNER_URL',
  adminToken: 'TENANCY_ADMIN_TOKEN',
  signingKeyFile: 'TENANCY_SIGNING_KEY_FILE',
  rootKeyFile: 'TENANCY_ROOT_KEY_FILE',
  rootKey: 'TENANCY_ROOT_KEY',
  s3Url: 'TENANCY_S3_URL',
  natsUrl: 'TENANCY_NATS_URL',
  warehouseUrl: 'TENANCY_WAREHOUSE_URL',
  warehouseRolePrefix: 'TENANCY_WAREHOUSE_ROLE_PREFIX',
  tenantStatementTimeoutSeconds: 'TENANCY_TENANT_STATEMENT_TIMEOUT_SECONDS',
  appMigrations: 'TENANCY_APP_MIGRATIONS',
  environment: 'TENANCY_ENVIRONMENT',
  logLevel: 'TENANCY_LOG_LEVEL',
  requestTimeoutSeconds: 'TENANCY_REQUEST_TIMEOUT_SECONDS',
  controllerConcurrency: 'TENANCY_CONTROLLER_CONCURRENCY',
  resyncIntervalSeconds: 'TENANCY_RESYNC_INTERVAL_SECONDS',
  instance: 'TENANCY_INSTANCE',
  webhookTimeoutSeconds: 'TENANCY_WEBHOOK_TIMEOUT_SECONDS',
  webhookRetrySchedule: 'TENANCY_WEBHOOK_RETRY_SCHEDULE',
  webhookAllowPrivate: 'TENANCY_WEBHOOK_ALLOW_PRIVATE',
  byocAllowPrivate: 'TENANCY_BYOC_ALLOW_PRIVATE',
  routerAllowPrivate: 'TENANCY_ROUTER_ALLOW_PRIVATE',
  routerLedger: 'TENANCY_ROUTER_LEDGER',
  retrievalCache: 'TENANCY_RETRIEVAL_CACHE',
  retrievalCacheTtlSeconds: 'TENANCY_RETRIEVAL_CACHE_TTL_SECONDS',
  sloEvaluateIntervalSeconds: 'TENANCY_SLO_EVALUATE_INTERVAL_SECONDS',
  redisUrl: 'TENANCY_REDIS_URL',
  webhookAllowedCidrs: 'TENANCY_WEBHOOK_ALLOWED_CIDRS',
  webhookSecretOverlapSeconds: 'TENANCY_WEBHOOK_SECRET_OVERLAP_SECONDS',
  usagePrices: 'TENANCY_USAGE_PRICES',
  usageRawRetentionDays: 'TENANCY_USAGE_RAW_RETENTION_DAYS',
  usageSampleIntervalSeconds: 'TENANCY_USAGE_SAMPLE_INTERVAL_SECONDS',
  smtpUrl: 'TENANCY_SMTP_URL',
  approvalsFrom: 'TENANCY_APPROVALS_FROM',
  approvalsTo: 'TENANCY_APPROVALS_TO',
  approvalsWebhookUrl: 'TENANCY_APPROVALS_WEBHOOK_URL',
  approvalsWebhookSecret: 'TENANCY_APPROVALS_WEBHOOK_SECRET',
  publicUrl: 'TENANCY_PUBLIC_URL',
  policySandboxTimeoutMs: 'TENANCY_POLICY_SANDBOX_TIMEOUT_MS',
  policySandboxMemoryMb: 'TENANCY_POLICY_SANDBOX_MEMORY_MB',
};
