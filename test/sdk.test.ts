/**
 * The SDK end to end against a real control plane on 127.0.0.1: the subpath has no server
 * imports; Fastify, Express and Hono apps resolve API keys and JWTs, load the tenant
 * context, refuse bad credentials and other tenants with problem+json, keep
 * `currentTenant()` across awaits and propagate it on outbound calls; a suspension is
 * refused within a second (event polling, and NATS when configured); a revoked key stops.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../src/access/index.js';
import { loadSigningKeys } from '../src/keys/index.js';
import { createTenancy, type Tenancy } from '../src/sdk/index.js';
import { startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, tenantKey } from './support/http.js';
import { ADAPTERS, get, problemOf, startGuardedApp, type GuardedApp } from './sdk-apps.js';

const SDK_DIR = fileURLToPath(new URL('../src/sdk', import.meta.url));
const NATS_URL = process.env.TENANCY_TEST_NATS_URL;

/** Platform key for the app itself (reads contexts and events). */
async function platformKey(plane: TestPlane, role: string): Promise<string> {
  const res = await call(plane, 'POST', '/v1/api-keys', { name: `${role} app`, role });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().token;
}

/** Poll `fn` until it returns true; returns the elapsed milliseconds. */
async function until(fn: () => Promise<boolean>, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the tenancy/sdk subpath', () => {
  it('is exported by package.json and imports no server module', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.exports['./sdk']).toEqual({ types: './dist/sdk/index.d.ts', default: './dist/sdk/index.js' });
    const files = (await readdir(SDK_DIR, { recursive: true })).filter((f) => f.endsWith('.ts'));
    expect(files).toContain('index.ts');
    const forbidden =
      /from '(\.\.\/(\.\.\/)?(http|controller|infra|isolation|tenants|access|governance|keys|ledger|commercial|verify|schema|cli|observability|control-plane)[/.]|fastify|express|hono|kysely|@electric-sql\/pglite)/;
    const offenders: string[] = [];
    for (const file of files) {
      const text = await readFile(join(SDK_DIR, file), 'utf8');
      for (const line of text.split('\n'))
        if (/^\s*(import|export)\b/.test(line) && forbidden.test(line)) offenders.push(`${file}: ${line.trim()}`);
    }
    expect(offenders).toEqual([]);
    // The check itself catches a server import.
    expect(forbidden.test("import { buildServer } from '../http/index.js';")).toBe(true);
    expect(forbidden.test("import Fastify from 'fastify';")).toBe(true);
  });

  it('resolves as tenancy/sdk from the built package', async () => {
    const sdk = await import('tenancy/sdk');
    expect(typeof sdk.createTenancy).toBe('function');
    expect(typeof sdk.currentTenant).toBe('function');
    expect(() => sdk.currentTenant()).toThrow(/outside a request/);
  });
});

describe('SDK middleware', () => {
  let plane: TestPlane;
  let tenancy: Tenancy;
  let appToken: string;
  let alpha: { token: string; id: string };
  let beta: { token: string; id: string };
  let echo: Server;
  let echoUrl: string;
  let tokens: TokenService;
  const apps = new Map<string, GuardedApp>();

  beforeAll(async () => {
    plane = await startTestPlane('pglite', { listen: true });
    for (const id of ['sdk-alpha', 'sdk-beta', 'sdk-gone']) await createActive(plane, id);
    alpha = await tenantKey(plane, 'sdk-alpha', 'viewer');
    beta = await tenantKey(plane, 'sdk-beta', 'viewer');
    appToken = await platformKey(plane, 'platform-operator');
    tokens = new TokenService(await loadSigningKeys(join(plane.dataDir, 'signing-keys.json')));
    echo = createServer((req, res) =>
      res.end(
        JSON.stringify({
          tenant: req.headers['x-tenant-id'],
          requestId: req.headers['x-request-id'],
          traceparent: req.headers.traceparent,
        }),
      ),
    );
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}/`;
    tenancy = await createTenancy({
      controlPlane: { url: plane.url, token: appToken },
      events: { pollIntervalMs: 100 },
    });
    for (const kind of ADAPTERS) apps.set(kind, await startGuardedApp(kind, tenancy, echoUrl));
  }, 60_000);

  afterAll(async () => {
    for (const app of apps.values()) await app.close();
    await tenancy?.close();
    await new Promise((r) => echo?.close(r));
    await plane?.stop();
  });

  describe.each(ADAPTERS)('on %s', (kind) => {
    const url = (path: string) => apps.get(kind)!.url + path;

    it('admits an API key with its own tenant, kept across awaits and propagated on outbound calls', async () => {
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const res = await get(url('/whoami'), alpha.token, { 'x-request-id': 'req-sdk-1', traceparent });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({
        tenant: 'sdk-alpha',
        afterAwait: 'sdk-alpha',
        keyId: alpha.id,
        requestId: 'req-sdk-1',
      });
      expect(res.headers.get('x-request-id')).toBe('req-sdk-1');
      expect(res.body.echoed.tenant).toBe('sdk-alpha');
      expect(res.body.echoed.requestId).toBe('req-sdk-1');
      // Same trace, a new span.
      expect(res.body.echoed.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
      expect(res.body.echoed.traceparent).not.toBe(traceparent);
      const other = await get(url('/whoami'), beta.token);
      expect(other.body.tenant).toBe('sdk-beta');
    });

    it('admits a JWT verified against the JWKS', async () => {
      const { token } = (await call(plane, 'POST', '/v1/tokens', {}, { token: beta.token })).json();
      const res = await get(url('/whoami'), token);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.tenant).toBe('sdk-beta');
    });

    it('refuses bad credentials and tenant confusion with problem+json', async () => {
      const operator = await platformKey(plane, 'platform-operator');
      const auditor = await platformKey(plane, 'platform-auditor');
      const expired = (
        await tokens.issue({ keyId: alpha.id, tenantId: 'sdk-alpha', role: 'viewer', plan: 'pro', ttlSeconds: -60 })
      ).token;
      const otherAudience = (
        await tokens.issue({
          keyId: alpha.id,
          tenantId: 'sdk-alpha',
          role: 'viewer',
          plan: 'pro',
          ttlSeconds: 300,
          audience: 'elsewhere',
        })
      ).token;
      const [h, p] = expired.split('.');
      const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
      const forged = `${h}.${Buffer.from(JSON.stringify({ sub: alpha.id, tenant_id: 'sdk-beta', role: 'owner', iss: 'tenancy', aud: 'tenancy', exp: 9999999999 })).toString('base64url')}.${expired.split('.')[2]}`;
      const cases: Array<[string, string | null, Record<string, string>, number, string]> = [
        ['no credential', null, {}, 401, 'unauthenticated'],
        ['not a bearer', null, { authorization: 'Basic abc' }, 401, 'unauthenticated'],
        ['unknown API key', 'tnc_0123456789abcdef_nope', {}, 401, 'invalid_credentials'],
        ['expired JWT', expired, {}, 401, 'invalid_token'],
        ['JWT for another audience', otherAudience, {}, 401, 'invalid_token'],
        ['alg none', unsigned, {}, 401, 'invalid_token'],
        ['forged claims', forged, {}, 401, 'invalid_token'],
        ['X-Tenant-ID alone', null, { 'x-tenant-id': 'sdk-alpha' }, 401, 'unauthenticated'],
        ['X-Tenant-ID disagreeing with the key', alpha.token, { 'x-tenant-id': 'sdk-beta' }, 403, 'tenant_mismatch'],
        ['X-Tenant-ID naming no tenant, tenant key', alpha.token, { 'x-tenant-id': 'no-such' }, 403, 'tenant_mismatch'],
        ['X-Tenant-ID that is not an id', alpha.token, { 'x-tenant-id': 'Not An Id' }, 400, 'invalid_header'],
        ['untrusted platform role', auditor, { 'x-tenant-id': 'sdk-alpha' }, 403, 'forbidden'],
        ['platform credential, no tenant named', operator, {}, 400, 'tenant_required'],
        ['unknown tenant', operator, { 'x-tenant-id': 'no-such-tenant' }, 404, 'tenant_not_found'],
      ];
      for (const [name, token, headers, status, code] of cases) {
        const res = await get(url('/whoami'), token, headers);
        expect({ name, ...problemOf(res) }).toEqual({
          name,
          status,
          code,
          type: `urn:tenancy:problem:${code}`,
          contentType: expect.stringMatching(/^application\/problem\+json/),
        });
        expect(JSON.stringify(res.body)).not.toContain('"tenant":');
      }
      // A field problem names the field, as the control plane's problems do.
      const badHeader = await get(url('/whoami'), alpha.token, { 'x-tenant-id': 'Not An Id' });
      expect(badHeader.body.errors).toEqual([{ path: '/headers/x-tenant-id', message: 'must be a DNS label' }]);
      const trusted = await get(url('/whoami'), operator, { 'x-tenant-id': 'sdk-beta' });
      expect(trusted.status).toBe(200);
      expect(trusted.body.tenant).toBe('sdk-beta');
    });
  });

  it('refuses a suspended tenant within a second of the suspend, and serves it again after resume', async () => {
    const app = apps.get('fastify')!;
    const key = await tenantKey(plane, 'sdk-gone', 'viewer');
    expect((await get(`${app.url}/whoami`, key.token)).status).toBe(200);
    const suspended = await call(plane, 'POST', '/v1/tenants/sdk-gone/suspend', { reason: 'test' });
    expect(suspended.statusCode, suspended.body).toBe(200);
    let last: Awaited<ReturnType<typeof get>> | undefined;
    const elapsed = await until(async () => (last = await get(`${app.url}/whoami`, key.token)).status === 403);
    expect(elapsed).toBeLessThan(1_000);
    expect(problemOf(last!)).toMatchObject({ status: 403, code: 'tenant_suspended' });
    expect((await call(plane, 'POST', '/v1/tenants/sdk-gone/resume', {})).statusCode).toBe(200);
    await until(async () => (await get(`${app.url}/whoami`, key.token)).status === 200);
  });

  it('stops admitting a revoked key and its tokens', async () => {
    const app = apps.get('express')!;
    const key = await tenantKey(plane, 'sdk-alpha', 'viewer');
    const { token } = (await call(plane, 'POST', '/v1/tokens', {}, { token: key.token })).json();
    expect((await get(`${app.url}/whoami`, key.token)).status).toBe(200);
    expect((await get(`${app.url}/whoami`, token)).status).toBe(200);
    expect((await call(plane, 'DELETE', `/v1/tenants/sdk-alpha/api-keys/${key.id}`)).statusCode).toBe(200);
    await until(async () => (await get(`${app.url}/whoami`, key.token)).status === 401, 2_000);
    await until(async () => (await get(`${app.url}/whoami`, token)).status === 401, 2_000);
  });

  it('starts following at the head of the events, replaying only revocations', async () => {
    const key = await tenantKey(plane, 'sdk-alpha', 'viewer');
    const { token } = (await call(plane, 'POST', '/v1/tokens', {}, { token: key.token })).json();
    expect((await call(plane, 'DELETE', `/v1/tenants/sdk-alpha/api-keys/${key.id}`)).statusCode).toBe(200);
    const fresh = await createTenancy({ controlPlane: { url: plane.url, token: appToken } });
    const seen: string[] = [];
    fresh.feed.onEvent((event) => seen.push(event.type));
    try {
      await fresh.start();
      // The history holds tenant creations, suspensions and more: only revocations come back.
      expect(seen.length).toBeGreaterThan(0);
      expect(new Set(seen)).toEqual(new Set(['tenancy.apikey.revoked']));
      // A token of the key revoked before this app started stays refused.
      await expect(fresh.credentials.resolve(`Bearer ${token}`)).rejects.toMatchObject({ code: 'invalid_credentials' });
    } finally {
      await fresh.close();
    }
  });

  it('answers 503 while the control plane cannot be reached, never a stale tenant', async () => {
    const offline = await createTenancy({
      controlPlane: { url: 'http://127.0.0.1:1', token: appToken, timeoutMs: 500 },
    });
    const app = await startGuardedApp('hono', offline);
    try {
      const res = await get(`${app.url}/whoami`, alpha.token);
      expect(problemOf(res)).toMatchObject({ status: 503, code: 'control_plane_unavailable' });
      expect(res.headers.get('retry-after')).toBe('1');
    } finally {
      await app.close();
      await offline.close();
    }
  });
});

describe.runIf(NATS_URL)('SDK cache invalidated over NATS', () => {
  let plane: TestPlane;
  let tenancy: Tenancy;
  let app: GuardedApp;

  beforeAll(async () => {
    plane = await startTestPlane('pglite', {
      listen: true,
      env: { TENANCY_NATS_URL: NATS_URL!, TENANCY_INSTANCE: `sdk-${process.pid}` },
    });
    await createActive(plane, 'sdk-nats');
    tenancy = await createTenancy({
      controlPlane: { url: plane.url, token: await platformKey(plane, 'platform-operator') },
      events: { natsUrl: NATS_URL! },
    });
    app = await startGuardedApp('fastify', tenancy);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await tenancy?.close();
    await plane?.stop();
  });

  it('refuses a suspended tenant within a second', async () => {
    const key = await tenantKey(plane, 'sdk-nats', 'viewer');
    expect((await get(`${app.url}/whoami`, key.token)).status).toBe(200);
    expect((await call(plane, 'POST', '/v1/tenants/sdk-nats/suspend', { reason: 'test' })).statusCode).toBe(200);
    const elapsed = await until(async () => (await get(`${app.url}/whoami`, key.token)).status === 403);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('refuses a token whose key was revoked before the app started (NATS has no history)', async () => {
    await createActive(plane, 'sdk-nats-revoked');
    const key = await tenantKey(plane, 'sdk-nats-revoked', 'viewer');
    const { token } = (await call(plane, 'POST', '/v1/tokens', {}, { token: key.token })).json();
    expect((await call(plane, 'DELETE', `/v1/tenants/sdk-nats-revoked/api-keys/${key.id}`)).statusCode).toBe(200);
    // Only once the revocation has gone out over NATS: a subscriber that starts now cannot get it live.
    await until(async () => {
      const rows = await plane.database.db
        .selectFrom('outbox')
        .select('published_at')
        .where('tenant_id', '=', 'sdk-nats-revoked')
        .where('type', 'in', ['apikey.revoked', 'tenancy.apikey.revoked'])
        .execute();
      return rows.length > 0 && rows.every((r) => r.published_at !== null);
    }, 10_000);
    const fresh = await createTenancy({
      controlPlane: { url: plane.url, token: await platformKey(plane, 'platform-operator') },
      events: { natsUrl: NATS_URL! },
    });
    try {
      await fresh.start();
      await expect(fresh.credentials.resolve(`Bearer ${token}`)).rejects.toMatchObject({ code: 'invalid_credentials' });
    } finally {
      await fresh.close();
    }
  });
});
if (!NATS_URL) console.warn('[tenancy tests] TENANCY_TEST_NATS_URL is not set: the SDK over NATS is SKIPPED');
