import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({}, {});
    expect(c).toMatchObject({
      port: 7480,
      host: '127.0.0.1',
      databaseUrl: undefined,
      adminToken: undefined,
      logLevel: 'info',
      controllerConcurrency: 4,
      resyncIntervalSeconds: 30,
    });
    expect(c.dataDir.endsWith('/.tenancy')).toBe(true);
    expect(c.signingKeyFile).toBe(`${c.dataDir}/signing-keys.json`);
    expect(c).toMatchObject({
      instance: 'default',
      webhookTimeoutMs: 10_000,
      webhookAllowPrivate: false,
      webhookAllowedCidrs: [],
      webhookSecretOverlapSeconds: 86_400,
    });
    expect(c.webhookRetryScheduleMs).toEqual([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
  });

  it('reads webhook settings', () => {
    const c = loadConfig(
      {},
      {
        TENANCY_WEBHOOK_RETRY_SCHEDULE: '50ms, 1.5s,2m',
        TENANCY_WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32, fd00::/8',
        TENANCY_WEBHOOK_TIMEOUT_SECONDS: '0.5',
      },
    );
    expect(c).toMatchObject({
      webhookRetryScheduleMs: [50, 1500, 120_000],
      webhookAllowedCidrs: ['127.0.0.1/32', 'fd00::/8'],
      webhookTimeoutMs: 500,
    });
  });

  it('reads the request timeout: five minutes unless set, and refuses none at all', () => {
    expect(loadConfig({}, {}).requestTimeoutMs).toBe(300_000);
    expect(loadConfig({}, { TENANCY_REQUEST_TIMEOUT_SECONDS: '1.5' }).requestTimeoutMs).toBe(1500);
    expect(() => loadConfig({}, { TENANCY_REQUEST_TIMEOUT_SECONDS: '0' })).toThrow(/TENANCY_REQUEST_TIMEOUT_SECONDS/);
  });

  it('lets flags win over the environment', () => {
    expect(loadConfig({ port: '9000', host: '0.0.0.0' }, { TENANCY_PORT: '8000', TENANCY_HOST: '::1' })).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
    });
  });

  it.each([
    [{ TENANCY_PORT: 'x' }, '--port / TENANCY_PORT must be a number'],
    [{ TENANCY_HOST: 'bad host' }, '--host / TENANCY_HOST must be a host name or IP address'],
    [{ TENANCY_DATABASE_URL: 'sqlite://x' }, 'TENANCY_DATABASE_URL must be a postgres:// URL'],
    [
      { TENANCY_DATABASE_OWNER_URL: 'postgres://owner@db/tenancy' },
      'TENANCY_DATABASE_OWNER_URL needs TENANCY_DATABASE_URL',
    ],
    [
      { TENANCY_DATABASE_URL: 'postgres://app@db/tenancy', TENANCY_DATABASE_OWNER_URL: 'mysql://owner@db/tenancy' },
      'TENANCY_DATABASE_OWNER_URL must be a postgres:// URL',
    ],
    [{ TENANCY_CONTROLLER_CONCURRENCY: '0' }, 'TENANCY_CONTROLLER_CONCURRENCY must be >= 1'],
    [{ TENANCY_S3_URL: 's3://bucket' }, 'TENANCY_S3_URL must be http(s)://KEY:SECRET@host:port'],
    [{ TENANCY_NATS_URL: 'http://x y' }, 'TENANCY_NATS_URL must be nats://host:port'],
    [
      { TENANCY_WAREHOUSE_URL: 'postgres://127.0.0.1:5432' },
      'TENANCY_WAREHOUSE_URL must be a postgres:// URL that names a database',
    ],
    [
      { TENANCY_WAREHOUSE_ROLE_PREFIX: 'Bad-Prefix' },
      'TENANCY_WAREHOUSE_ROLE_PREFIX must be empty or a lowercase identifier',
    ],
    [{ TENANCY_WEBHOOK_RETRY_SCHEDULE: '5s,soon' }, 'TENANCY_WEBHOOK_RETRY_SCHEDULE must be comma-separated durations'],
    [
      { TENANCY_WEBHOOK_ALLOWED_CIDRS: '10.0.0.0/8,not-a-range' },
      'TENANCY_WEBHOOK_ALLOWED_CIDRS must be comma-separated CIDR ranges',
    ],
    [{ TENANCY_WEBHOOK_ALLOW_PRIVATE: 'yes' }, 'TENANCY_WEBHOOK_ALLOW_PRIVATE must be true or false'],
    [{ TENANCY_WEBHOOK_TIMEOUT_SECONDS: '0' }, 'TENANCY_WEBHOOK_TIMEOUT_SECONDS must be >= 0.05'],
    [{ TENANCY_INSTANCE: 'Prod Cluster' }, 'TENANCY_INSTANCE must be a DNS label'],
  ])('refuses %j with one line', (env, message) => {
    expect(() => loadConfig({}, env)).toThrow(message);
  });

  it('never echoes the admin token or database URL in errors', () => {
    try {
      loadConfig({}, { TENANCY_ADMIN_TOKEN: 'secret secret secret' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('secret');
    }
  });
});
