import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({}, {});
    expect(c).toMatchObject({ port: 7480, host: '127.0.0.1', databaseUrl: undefined, adminToken: undefined, logLevel: 'info', controllerConcurrency: 4, resyncIntervalSeconds: 30 });
    expect(c.dataDir.endsWith('/.tenancy')).toBe(true);
    expect(c.signingKeyFile).toBe(`${c.dataDir}/signing-keys.json`);
  });

  it('lets flags win over the environment', () => {
    expect(loadConfig({ port: '9000', host: '0.0.0.0' }, { TENANCY_PORT: '8000', TENANCY_HOST: '::1' })).toMatchObject({ port: 9000, host: '0.0.0.0' });
  });

  it.each([
    [{ TENANCY_PORT: 'x' }, '--port / TENANCY_PORT must be a number'],
    [{ TENANCY_HOST: 'bad host' }, '--host / TENANCY_HOST must be a host name or IP address'],
    [{ TENANCY_DATABASE_URL: 'sqlite://x' }, 'TENANCY_DATABASE_URL must be a postgres:// URL'],
    [{ TENANCY_CONTROLLER_CONCURRENCY: '0' }, 'TENANCY_CONTROLLER_CONCURRENCY must be >= 1'],
    [{ TENANCY_S3_URL: 's3://bucket' }, 'TENANCY_S3_URL must be http(s)://KEY:SECRET@host:port'],
    [{ TENANCY_NATS_URL: 'http://x y' }, 'TENANCY_NATS_URL must be nats://host:port'],
    [{ TENANCY_WAREHOUSE_URL: 'postgres://127.0.0.1:5432' }, 'TENANCY_WAREHOUSE_URL must be a postgres:// URL that names a database'],
    [{ TENANCY_WAREHOUSE_ROLE_PREFIX: 'Bad-Prefix' }, 'TENANCY_WAREHOUSE_ROLE_PREFIX must be empty or a lowercase identifier'],
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
