/**
 * st-byoc: a tenant's data in its own PostgreSQL database, whose URL it keeps as a tenant
 * secret. The manifest must name the secret; provisioning waits (Degraded) until the
 * secret holds a reachable URL; migrations run there with the tenant's credentials; the
 * connection descriptor hands that URL back; purge never drops the tenant's database.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { call, expectProblem, manifest, waitForPhase } from './support/http.js';

const EXAMPLE = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));
if (!PG_URL) console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: st-byoc tests are SKIPPED');

/** Wait until tenant `id` has a Degraded condition whose message contains `text`; returns the tenant. */
async function degradedWith(plane: TestPlane, id: string, text: string, timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = (await call(plane, 'GET', `/v1/tenants/${id}`)).json();
    if (t.status.conditions.some((c: any) => c.type === 'Degraded' && c.message.includes(text))) return t;
    if (Date.now() > deadline)
      throw new Error(`tenant ${id} has no Degraded condition with "${text}": ${JSON.stringify(t.status)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A database of its own and a role that owns it (not a superuser), as a tenant would run; returns the role's URL. */
async function tenantDatabase(): Promise<{
  url: string;
  role: string;
  password: string;
  database: string;
  drop: () => Promise<void>;
}> {
  const own = await freshPostgresDatabase();
  const role = `byoc_${randomBytes(3).toString('hex')}`;
  const password = `byoc-pass-${randomBytes(6).toString('hex')}`;
  const database = new URL(own.url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create role ${role} login password '${password}'`);
  await admin.query(`alter database "${database}" owner to ${role}`);
  await admin.end();
  const inside = new pg.Client({ connectionString: own.url });
  await inside.connect();
  await inside.query(`grant all on schema public to ${role}`).catch(() => undefined);
  await inside.end();
  const url = new URL(own.url);
  url.username = role;
  url.password = password;
  return {
    url: url.toString(),
    role,
    password,
    database,
    async drop() {
      await own.drop();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop role if exists ${role}`).catch(() => undefined);
      await c.end();
    },
  };
}

describe('bring your own database (st-byoc)', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    // The tenant databases here are on loopback, which st-byoc refuses unless allowed.
    plane = await startTestPlane('pglite', {
      env: { TENANCY_APP_MIGRATIONS: EXAMPLE, TENANCY_BYOC_ALLOW_PRIVATE: 'true' },
    });
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('refuses st-byoc without a database secret, and byoc on other profiles', async () => {
    const missing = expectProblem(
      await call(plane, 'POST', '/v1/tenants', manifest('byoc-x', { profile: 'st-byoc' })),
      400,
      'invalid_manifest',
    );
    expect(missing.errors).toEqual([
      expect.objectContaining({ path: '/spec/byoc', message: expect.stringContaining('needs byoc.databaseSecret') }),
    ]);
    const stray = expectProblem(
      await call(plane, 'POST', '/v1/tenants', manifest('byoc-y', { byoc: { databaseSecret: 'db-url' } })),
      400,
      'invalid_manifest',
    );
    expect(stray.errors).toEqual([
      expect.objectContaining({ path: '/spec/byoc', message: 'applies to profile st-byoc only' }),
    ]);
    expect((await call(plane, 'GET', '/v1/tenants/byoc-x')).statusCode).toBe(404);
  });

  it.skipIf(!PG_URL)(
    'provisions into the tenant database once the secret holds a reachable URL, and never drops it',
    async () => {
      const own = await freshPostgresDatabase();
      // The tenant's own role: not a superuser, owner of its database only.
      const role = `byoc_${randomBytes(3).toString('hex')}`;
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`create role ${role} login password 'byoc-pass-0123456789'`);
      await admin.query(`alter database "${new URL(own.url).pathname.slice(1)}" owner to ${role}`);
      await admin.query(`grant all on schema public to ${role}`).catch(() => undefined);
      await admin.end();
      const ownUrl = new URL(own.url);
      ownUrl.username = role;
      ownUrl.password = 'byoc-pass-0123456789';
      const tenantUrl = ownUrl.toString();
      try {
        const id = 'byoc-a';
        expect(
          (
            await call(
              plane,
              'POST',
              '/v1/tenants',
              manifest(id, { profile: 'st-byoc', byoc: { databaseSecret: 'db-url' }, config: { retentionDays: 0 } }),
            )
          ).statusCode,
        ).toBe(201);
        const degraded = async (text: string) => {
          const deadline = Date.now() + 15_000;
          for (;;) {
            const t = (await call(plane, 'GET', `/v1/tenants/${id}`)).json();
            if (t.status.conditions.some((c: any) => c.type === 'Degraded' && c.message.includes(text))) return t;
            if (Date.now() > deadline) throw new Error(JSON.stringify(t.status));
            await new Promise((r) => setTimeout(r, 50));
          }
        };
        expect((await degraded('tenant secret db-url is not set')).status.phase).toBe('provisioning');
        await call(plane, 'PUT', `/v1/tenants/${id}/secrets/db-url`, {
          value: 'postgres://postgres@127.0.0.1:1/nowhere',
        });
        plane.controller.enqueue(id);
        expect((await degraded("cannot connect to tenant byoc-a's database")).status.phase).toBe('provisioning');

        // A superuser URL (the platform's own cluster) is refused: the control plane must not be the tenant's way in.
        await call(plane, 'PUT', `/v1/tenants/${id}/secrets/db-url`, { value: own.url });
        plane.controller.enqueue(id);
        expect((await degraded('is a superuser or bypasses row-level security')).status.phase).toBe('provisioning');

        await call(plane, 'PUT', `/v1/tenants/${id}/secrets/db-url`, { value: tenantUrl });
        plane.controller.enqueue(id);
        await waitForPhase(plane, id, 'active', 20_000);
        const c = new pg.Client({ connectionString: own.url });
        await c.connect();
        try {
          const tables = (
            await c.query(`select tablename from pg_tables where schemaname = 'public' order by 1`)
          ).rows.map((r) => r.tablename);
          expect(tables).toEqual(['notes', 'tenancy_schema_migrations']);
          const conn = (await call(plane, 'GET', `/v1/tenants/${id}/connection`)).json();
          expect(conn).toMatchObject({
            strategy: 'dedicated',
            database: { url: tenantUrl, schema: 'public', isolation: expect.stringContaining('st-byoc') },
          });

          await call(plane, 'DELETE', `/v1/tenants/${id}`);
          await waitForPhase(plane, id, 'deleted', 15_000);
          await plane.controller.idle();
          expect((await c.query(`select count(*)::int as n from pg_tables where tablename = 'notes'`)).rows[0].n).toBe(
            1,
          );
        } finally {
          await c.end();
        }
      } finally {
        await own.drop();
        const cleanup = new pg.Client({ connectionString: PG_URL });
        await cleanup.connect();
        await cleanup.query(`drop role if exists ${role}`).catch(() => undefined);
        await cleanup.end();
      }
    },
    60_000,
  );

  it.skipIf(!PG_URL)('refuses loopback and private database hosts unless the operator allows them', async () => {
    const strict = await startTestPlane('pglite', { env: { TENANCY_APP_MIGRATIONS: EXAMPLE } });
    try {
      const id = 'byoc-b';
      await call(
        strict,
        'POST',
        '/v1/tenants',
        manifest(id, { profile: 'st-byoc', byoc: { databaseSecret: 'db-url' } }),
      );
      await call(strict, 'PUT', `/v1/tenants/${id}/secrets/db-url`, { value: PG_URL });
      strict.controller.enqueue(id);
      const deadline = Date.now() + 15_000;
      let t: any;
      do {
        await new Promise((r) => setTimeout(r, 50));
        t = (await call(strict, 'GET', `/v1/tenants/${id}`)).json();
      } while (
        !t.status.conditions.some((c: any) => c.type === 'Degraded' && c.message.includes('loopback')) &&
        Date.now() < deadline
      );
      expect(t.status.phase).toBe('provisioning');
      expect(t.status.conditions).toContainEqual(
        expect.objectContaining({ type: 'Degraded', message: expect.stringContaining('TENANCY_BYOC_ALLOW_PRIVATE') }),
      );
    } finally {
      await strict.stop();
    }
  });

  it.skipIf(!PG_URL)(
    'with private addresses allowed, a loopback database still works, written as an IPv4-mapped address with sslmode and application_name',
    async () => {
      const own = await tenantDatabase();
      try {
        const id = 'byoc-c';
        await call(
          plane,
          'POST',
          '/v1/tenants',
          manifest(id, { profile: 'st-byoc', byoc: { databaseSecret: 'db-url' }, config: { retentionDays: 0 } }),
        );
        const port = new URL(PG_URL!).port || '5432';
        const written = `postgres://${own.role}:${own.password}@[::ffff:127.0.0.1]:${port}/${own.database}?sslmode=disable&application_name=byoc-c`;
        await call(plane, 'PUT', `/v1/tenants/${id}/secrets/db-url`, { value: written });
        plane.controller.enqueue(id);
        await waitForPhase(plane, id, 'active', 20_000);
        const conn = (await call(plane, 'GET', `/v1/tenants/${id}/connection`)).json();
        expect(conn.database).toMatchObject({
          url: `postgres://${own.role}:${own.password}@[::ffff:7f00:1]:${port}/${own.database}?sslmode=disable&application_name=byoc-c`,
          role: own.role,
          database: own.database,
        });
        await call(plane, 'DELETE', `/v1/tenants/${id}`);
        await waitForPhase(plane, id, 'deleted', 15_000);
      } finally {
        await own.drop();
      }
    },
    60_000,
  );

  it("refuses a Unix socket even with private addresses allowed: it is always a server on the control plane's machine", async () => {
    const id = 'byoc-d';
    await call(plane, 'POST', '/v1/tenants', manifest(id, { profile: 'st-byoc', byoc: { databaseSecret: 'db-url' } }));
    await call(plane, 'PUT', `/v1/tenants/${id}/secrets/db-url`, {
      value: 'postgres://postgres@/postgres?host=/var/run/postgresql',
    });
    plane.controller.enqueue(id);
    const t = await degradedWith(plane, id, 'names a Unix-domain socket (/var/run/postgresql)');
    expect(t.status.phase).toBe('provisioning');
  });
});

describe('st-byoc reads the database URL as the driver does (private addresses not allowed)', () => {
  let strict: TestPlane;
  beforeAll(async () => {
    strict = await startTestPlane('pglite', { env: { TENANCY_APP_MIGRATIONS: EXAMPLE } });
  });
  afterAll(async () => {
    await strict?.stop();
  });

  // Each URL names a public host (or none) but could lead the driver to loopback; each must leave
  // the tenant provisioning with a Degraded condition that names the reason, and reach nothing.
  const cases: Array<[string, (port: number) => string, string]> = [
    [
      'a host parameter beside a public URL host',
      (p) => `postgres://role:pw@93.184.216.34:${p}/db?host=127.0.0.1`,
      'names two hosts, 93.184.216.34 in the URL and 127.0.0.1 in its host parameter',
    ],
    [
      'a host parameter as the only host',
      (p) => `postgres://role:pw@/db?host=127.0.0.1&port=${p}`,
      'is a loopback address (127.0.0.1)',
    ],
    ['hostaddr', (p) => `postgres://role:pw@93.184.216.34:${p}/db?hostaddr=127.0.0.1`, 'the parameter "hostaddr"'],
    [
      'a Unix socket',
      () => 'postgres://role:pw@/db?host=/var/run/postgresql',
      'names a Unix-domain socket (/var/run/postgresql)',
    ],
    [
      'a %2F-encoded Unix socket',
      () => 'postgres://role:pw@%2Fvar%2Frun%2Fpostgresql/db',
      'names a Unix-domain socket',
    ],
    [
      'several hosts',
      (p) => `postgres://role:pw@93.184.216.34,127.0.0.1:${p}/db`,
      'names several hosts (93.184.216.34,127.0.0.1)',
    ],
    [
      'an IPv4-mapped loopback address',
      (p) => `postgres://role:pw@[::ffff:127.0.0.1]:${p}/db`,
      'is a loopback address',
    ],
    ['an IPv4-compatible loopback address', (p) => `postgres://role:pw@[::127.0.0.1]:${p}/db`, 'is a loopback address'],
    [
      'a hexadecimal loopback address',
      (p) => `postgres://role:pw@0x7f000001:${p}/db`,
      'is a loopback address (127.0.0.1)',
    ],
  ];

  it.each(cases.map(([name, url, reason], i) => ({ name, url, reason, id: `byoc-s${i}` })))(
    'refuses $name',
    async ({ url, reason, id }) => {
      // Stands in for a database on the control plane's loopback: it only counts who reaches it.
      let connections = 0;
      const listener = createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      try {
        const port = (listener.address() as AddressInfo).port;
        expect(
          (
            await call(
              strict,
              'POST',
              '/v1/tenants',
              manifest(id, { profile: 'st-byoc', byoc: { databaseSecret: 'db-url' } }),
            )
          ).statusCode,
        ).toBe(201);
        expect(
          (await call(strict, 'PUT', `/v1/tenants/${id}/secrets/db-url`, { value: url(port) })).statusCode,
        ).toBeLessThan(300);
        strict.controller.enqueue(id);
        const t = await degradedWith(strict, id, reason);
        expect(t.status.phase).toBe('provisioning');
        expect(connections).toBe(0);
      } finally {
        await new Promise((resolve) => listener.close(resolve));
      }
    },
  );
});
