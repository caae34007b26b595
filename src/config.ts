/**
 * Control-plane configuration from flags and `TENANCY_*` variables, validated in one
 * place: bad configuration stops start-up with one line naming the setting.
 */
import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { TenancyError } from './errors.js';

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

/** The default retry schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (eight attempts over about 28 hours). */
export const DEFAULT_WEBHOOK_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parse `5s,5m,2h` into milliseconds; undefined when malformed. */
export function parseSchedule(text: string): number[] | undefined {
  const parts = text.split(',').map((p) => p.trim());
  const out: number[] = [];
  for (const p of parts) {
    const m = DURATION.exec(p);
    if (!m) return undefined;
    out.push(Math.round(Number(m[1]) * UNIT_MS[m[2]!]!));
  }
  return out;
}

/** Flags given on the command line (they win over the environment). */
export interface ConfigFlags {
  port?: string | undefined;
  host?: string | undefined;
  dataDir?: string | undefined;
}

const schema = z
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
  .refine((c) => c.databaseOwnerUrl === undefined || c.databaseUrl !== undefined, {
    path: ['databaseOwnerUrl'],
    message: 'needs TENANCY_DATABASE_URL (the runtime role in the same database)',
  });

const NAMES: Record<string, string> = {
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

const blank = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);

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
  const result = schema.safeParse(raw);
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
      400,
      `invalid configuration: ${NAMES[key] ?? key} ${issue.message}${shown}`,
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
    webhookAllowedCidrs: c.webhookAllowedCidrs
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
    webhookSecretOverlapSeconds: c.webhookSecretOverlapSeconds,
    usagePrices: c.usagePrices,
    usageRawRetentionDays: c.usageRawRetentionDays,
    usageSampleIntervalSeconds: c.usageSampleIntervalSeconds,
    smtpUrl: c.smtpUrl,
    approvalsFrom: c.approvalsFrom,
    approvalsTo: c.approvalsTo
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
    approvalsWebhookUrl: c.approvalsWebhookUrl,
    approvalsWebhookSecret: c.approvalsWebhookSecret,
    publicUrl: c.publicUrl,
    policySandboxTimeoutMs: c.policySandboxTimeoutMs,
    policySandboxMemoryMb: c.policySandboxMemoryMb,
  };
}
