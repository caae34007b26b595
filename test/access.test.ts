/**
 * Access end to end: API keys, JWTs, tenant scoping, suspended tenants, and every cell
 * of the permission matrix through the real routes, with denials audited.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACTIONS,
  PERMISSIONS,
  PLATFORM_ROLES,
  ROLES,
  TENANT_ROLES,
  type Action,
  type Role,
} from '../src/access/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, manifest, tenantKey, waitForPhase, type Res } from './support/http.js';
import { commitPolicy, newPolicyKey, policyDoc, registerPolicyKey } from './support/policies.js';

describe.each(engines())('access on %s', (engine) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(engine, {
      env: { TENANCY_APP_MIGRATIONS: fileURLToPath(new URL('../examples/app/migrations', import.meta.url)) },
    });
    await createActive(plane, 'tenant-a', { plan: 'starter' });
    await createActive(plane, 'tenant-b');
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('needs credentials, and refuses unknown, malformed, revoked and expired keys', async () => {
    const none = expectProblem(
      await call(plane, 'GET', '/v1/tenants', undefined, { token: null }),
      401,
      'unauthenticated',
    );
    expect(none.detail).toContain('Bearer');
    expectProblem(
      await call(plane, 'GET', '/v1/tenants', undefined, { token: null, headers: { authorization: 'Basic abc' } }),
      401,
      'unauthenticated',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants', undefined, {
        token: 'tnc_0123456789abcdef_notarealsecretnotarealsecret',
      }),
      401,
      'invalid_credentials',
    );
    const key = await tenantKey(plane, 'tenant-a', 'viewer');
    expect(key.token).toMatch(/^tnc_[0-9a-f]{16}_/);
    expect((await call(plane, 'GET', '/v1/tenants/tenant-a', undefined, { token: key.token })).statusCode).toBe(200);
    await call(plane, 'DELETE', `/v1/tenants/tenant-a/api-keys/${key.id}`);
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/tenant-a', undefined, { token: key.token }),
      401,
      'invalid_credentials',
    );
    const soon = await call(plane, 'POST', '/v1/tenants/tenant-a/api-keys', {
      name: 'short',
      role: 'viewer',
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect(soon.statusCode).toBe(201);
    await new Promise((r) => setTimeout(r, 1600));
    plane.apiKeys.invalidate();
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/tenant-a', undefined, { token: soon.json().token }),
      401,
      'invalid_credentials',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/tenant-a/api-keys', {
        name: 'past',
        role: 'viewer',
        expiresAt: '2001-01-01T00:00:00Z',
      }),
      400,
      'validation_failed',
    );
  });

  it('stores only a hash of each key, shows the token once, and lists without secrets', async () => {
    const key = await tenantKey(plane, 'tenant-a', 'auditor');
    const rows = await plane.database.db.selectFrom('api_keys').selectAll().where('id', '=', key.id).execute();
    expect(rows[0]!.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows)).not.toContain(key.token);
    const list = await call(plane, 'GET', '/v1/tenants/tenant-a/api-keys');
    expect(list.body).not.toContain(key.token.slice(22));
    expect(list.json().items.find((k: any) => k.id === key.id)).toMatchObject({
      role: 'auditor',
      tenantId: 'tenant-a',
      prefix: `tnc_${key.id}`,
    });
  });

  it('keeps tenant credentials inside their tenant: another tenant is 404', async () => {
    const a = await tenantKey(plane, 'tenant-a', 'admin');
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/tenant-b', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/tenant-b', { spec: { name: 'mine now' } }, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/tenant-b/api-keys', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/audit?tenant=tenant-b', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/nonexistent', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    const list = (await call(plane, 'GET', '/v1/tenants', undefined, { token: a.token })).json();
    expect(list.items.map((t: any) => t.metadata.id)).toEqual(['tenant-a']);
    const listWithHeader = (
      await call(plane, 'GET', '/v1/tenants', undefined, { token: a.token, headers: { 'x-tenant-id': 'tenant-b' } })
    ).json();
    expect(listWithHeader.items.map((t: any) => t.metadata.id)).toEqual(['tenant-a']);
    const audit = (await call(plane, 'GET', '/v1/audit?limit=1000', undefined, { token: a.token })).json();
    expect(audit.items.length).toBeGreaterThan(0);
    expect(new Set(audit.items.map((r: any) => r.tenantId))).toEqual(new Set(['tenant-a']));
    expect((await call(plane, 'GET', '/v1/tenants/tenant-b')).json().spec.name).toBe('Tenant tenant-b');
  });

  it('lets a platform credential pick the tenant with X-Tenant-ID', async () => {
    const list = (
      await call(plane, 'GET', '/v1/tenants', undefined, { headers: { 'x-tenant-id': 'tenant-b' } })
    ).json();
    expect(list.items.map((t: any) => t.metadata.id)).toEqual(['tenant-b']);
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/tenant-a', undefined, { headers: { 'x-tenant-id': 'tenant-b' } }),
      400,
      'tenant_mismatch',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants', undefined, { headers: { 'x-tenant-id': 'Not_Valid' } }),
      400,
      'invalid_tenant_id',
    );
  });

  it("refuses a suspended or archived tenant's credentials with 403 at once", async () => {
    await createActive(plane, 'paused');
    const key = await tenantKey(plane, 'paused', 'owner');
    expect((await call(plane, 'GET', '/v1/tenants/paused', undefined, { token: key.token })).statusCode).toBe(200);
    await call(plane, 'POST', '/v1/tenants/paused/suspend', { reason: 'billing' });
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/paused', undefined, { token: key.token }),
      403,
      'tenant_suspended',
    );
    await call(plane, 'POST', '/v1/tenants/paused/archive', {});
    await waitForPhase(plane, 'paused', 'archived');
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/paused', undefined, { token: key.token }),
      403,
      'tenant_archived',
    );
    await call(plane, 'POST', '/v1/tenants/paused/restore', {});
    await waitForPhase(plane, 'paused', 'active');
    expect((await call(plane, 'GET', '/v1/tenants/paused', undefined, { token: key.token })).statusCode).toBe(200);
  });

  it('limits what tenant roles may grant and change', async () => {
    const admin = await tenantKey(plane, 'tenant-a', 'admin');
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/tenant-a/api-keys', { name: 'up', role: 'owner' }, { token: admin.token }),
      403,
      'forbidden',
    );
    expect(
      (
        await call(
          plane,
          'POST',
          '/v1/tenants/tenant-a/api-keys',
          { name: 'ok', role: 'operator' },
          { token: admin.token },
        )
      ).statusCode,
    ).toBe(201);
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/tenant-a/api-keys', { name: 'up', role: 'platform-admin' }),
      400,
      'validation_failed',
    );
    const forbidden = expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/tenant-a', { spec: { plan: 'enterprise' } }, { token: admin.token }),
      403,
      'forbidden_field',
    );
    expect(forbidden.errors).toEqual([{ path: '/spec/plan', message: 'only a platform role may change this field' }]);
    expect(
      (
        await call(
          plane,
          'PATCH',
          '/v1/tenants/tenant-a',
          { spec: { contact: { email: 'ops@a.example' } } },
          { token: admin.token },
        )
      ).statusCode,
    ).toBe(200);
  });

  it('exchanges an API key for an EdDSA JWT that carries the tenant, verified against the JWKS', async () => {
    const key = await tenantKey(plane, 'tenant-a', 'operator');
    const res = await call(plane, 'POST', '/v1/tokens', {}, { token: key.token });
    expect(res.statusCode, res.body).toBe(200);
    const { token } = res.json();
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', typ: 'JWT' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      sub: key.id,
      tenant_id: 'tenant-a',
      role: 'operator',
      plan: 'starter',
      aud: 'tenancy',
      iss: 'tenancy',
    });
    expect(claims.exp! - claims.iat!).toBe(900);
    const jwks = (await call(plane, 'GET', '/.well-known/jwks.json', undefined, { token: null })).json();
    expect(jwks.keys[0]).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      alg: 'EdDSA',
      kid: decodeProtectedHeader(token).kid,
    });
    expect(jwks.keys[0].d).toBeUndefined();
    expect((await call(plane, 'GET', '/v1/tenants/tenant-a', undefined, { token })).statusCode).toBe(200);
    expectProblem(await call(plane, 'GET', '/v1/tenants/tenant-b', undefined, { token }), 404, 'tenant_not_found');
    expectProblem(await call(plane, 'POST', '/v1/tokens', {}, { token }), 403, 'api_key_required');
    expectProblem(
      await call(plane, 'POST', '/v1/tokens', { ttlSeconds: 999999 }, { token: key.token }),
      400,
      'validation_failed',
    );
    await call(plane, 'DELETE', `/v1/tenants/tenant-a/api-keys/${key.id}`);
    expectProblem(await call(plane, 'GET', '/v1/tenants/tenant-a', undefined, { token }), 401, 'invalid_token');
  });

  it('rejects alg none, tampered, expired, foreign-audience and HS256-confused tokens', async () => {
    const key = await tenantKey(plane, 'tenant-a', 'viewer');
    const { token } = (await call(plane, 'POST', '/v1/tokens', {}, { token: key.token })).json();
    const [h, p, s] = token.split('.');
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`;
    const tampered = `${h}.${b64({ ...payload, tenant_id: 'tenant-b' })}.${s}`;
    const stored = JSON.parse(await readFile(join(plane.dataDir, 'signing-keys.json'), 'utf8')).keys.find(
      (k: any) => k.purpose === 'jwt',
    );
    const privateKey = createPrivateKey({ key: stored.privateJwk, format: 'jwk' });
    const sign = (claims: Record<string, unknown>, exp: number, aud = 'tenancy') =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', kid: stored.kid })
        .setIssuer('tenancy')
        .setSubject(key.id)
        .setAudience(aud)
        .setIssuedAt(exp - 900)
        .setExpirationTime(exp)
        .sign(privateKey);
    const now = Math.floor(Date.now() / 1000);
    const expired = await sign({ tenant_id: 'tenant-a', role: 'viewer', plan: 'starter' }, now - 60);
    const foreign = await sign({ tenant_id: 'tenant-a', role: 'viewer', plan: 'starter' }, now + 600, 'someone-else');
    const hs = await new SignJWT({ tenant_id: 'tenant-a', role: 'viewer' })
      .setProtectedHeader({ alg: 'HS256', kid: stored.kid })
      .setIssuer('tenancy')
      .setSubject(key.id)
      .setAudience('tenancy')
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(JSON.stringify(stored.privateJwk)));
    const escalated = await sign({ tenant_id: 'tenant-a', role: 'owner', plan: 'starter' }, now + 600);
    for (const [bad, why] of [
      [none, 'algorithm'],
      [tampered, 'signature'],
      [expired, 'expired'],
      [foreign, 'aud'],
      [hs, 'algorithm'],
      [escalated, 'no longer match'],
      ['a.b.c', 'malformed'],
    ] as const) {
      const problem = expectProblem(
        await call(plane, 'GET', '/v1/tenants/tenant-a', undefined, { token: bad }),
        401,
        'invalid_token',
      );
      expect(problem.detail).toContain(why);
    }
  });

  it('audits denials with the actor and the reason', async () => {
    const viewer = await tenantKey(plane, 'tenant-a', 'viewer');
    await call(plane, 'POST', '/v1/tenants/tenant-a/suspend', { reason: 'x' }, { token: viewer.token });
    await call(plane, 'GET', '/v1/tenants/tenant-b', undefined, { token: viewer.token });
    await call(plane, 'GET', '/v1/tenants', undefined, { token: 'tnc_0123456789abcdef_garbagegarbagegarbage' });
    const denied = (await call(plane, 'GET', '/v1/audit?limit=1000'))
      .json()
      .items.filter((r: any) => r.outcome === 'denied');
    expect(denied).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actor: `apikey:${viewer.id}`,
          action: 'tenant.suspend',
          details: expect.objectContaining({ reason: 'role', role: 'viewer' }),
        }),
        expect.objectContaining({
          actor: `apikey:${viewer.id}`,
          action: 'tenant.read',
          target: 'tenant/tenant-b',
          details: expect.objectContaining({ reason: 'cross_tenant' }),
        }),
        expect.objectContaining({
          actor: 'anonymous',
          action: 'auth.authenticate',
          details: expect.objectContaining({ code: 'invalid_credentials' }),
        }),
      ]),
    );
    expect((await call(plane, 'GET', '/v1/tenants/tenant-a')).json().status.phase).toBe('active');
  });

  it('enforces every cell of the permission matrix', async () => {
    let n = 0;
    const fresh = async () => {
      const id = `m-${(n++).toString(36)}`;
      await createActive(plane, id);
      return id;
    };
    const viewerKeyOf = async (tenant: string) => (await tenantKey(plane, tenant, 'viewer')).id;
    const mockProvider = (name: string, model: string) => ({
      apiVersion: 'tenancy/v1',
      kind: 'ModelProvider',
      metadata: { name },
      spec: {
        type: 'mock',
        region: 'eu-west-1',
        models: [{ name: model, inputUsdPerMTok: 1, outputUsdPerMTok: 2, contextWindow: 8192 }],
      },
    });
    const withRouter = async (t: string) => {
      const res = await call(plane, 'POST', '/v1/apply', {
        items: [
          { manifest: mockProvider('matrix-mock', 'matrix-model') },
          {
            manifest: {
              apiVersion: 'tenancy/v1',
              kind: 'TenantRouter',
              metadata: { tenant: t },
              spec: { primary: { model: 'matrix-model' } },
            },
          },
        ],
      });
      expect(res.statusCode, res.body).toBe(200);
    };
    type Probe = {
      prepare?: (t: string) => Promise<unknown>;
      run: (t: string, token: string, prep: any) => Promise<Res>;
    };
    const probes: Record<Action, Probe> = {
      'tenant.create': {
        run: (_t, token) => call(plane, 'POST', '/v1/tenants', manifest(`c-${(n++).toString(36)}`), { token }),
      },
      'tenant.list': { run: (_t, token) => call(plane, 'GET', '/v1/tenants', undefined, { token }) },
      'tenant.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}`, undefined, { token }) },
      'tenant.update': {
        run: (t, token) => call(plane, 'PATCH', `/v1/tenants/${t}`, { spec: { name: 'renamed' } }, { token }),
      },
      'tenant.suspend': {
        run: (t, token) => call(plane, 'POST', `/v1/tenants/${t}/suspend`, { reason: 'matrix' }, { token }),
      },
      'tenant.resume': {
        prepare: (t) => call(plane, 'POST', `/v1/tenants/${t}/suspend`, { reason: 'matrix' }),
        run: (t, token) => call(plane, 'POST', `/v1/tenants/${t}/resume`, {}, { token }),
      },
      'tenant.archive': { run: (t, token) => call(plane, 'POST', `/v1/tenants/${t}/archive`, {}, { token }) },
      'tenant.restore': {
        prepare: async (t) => {
          await call(plane, 'POST', `/v1/tenants/${t}/archive`, {});
          await waitForPhase(plane, t, 'archived');
        },
        run: (t, token) => call(plane, 'POST', `/v1/tenants/${t}/restore`, {}, { token }),
      },
      'tenant.delete': { run: (t, token) => call(plane, 'DELETE', `/v1/tenants/${t}`, undefined, { token }) },
      'tenant.apply': {
        run: (_t, token) =>
          call(plane, 'POST', '/v1/apply', { dryRun: true, items: [{ manifest: manifest('apply-probe') }] }, { token }),
      },
      'apikey.create': {
        run: (t, token) =>
          call(plane, 'POST', `/v1/tenants/${t}/api-keys`, { name: 'probe', role: 'viewer' }, { token }),
      },
      'apikey.list': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/api-keys`, undefined, { token }) },
      'apikey.revoke': {
        prepare: viewerKeyOf,
        run: (t, token, keyId) => call(plane, 'DELETE', `/v1/tenants/${t}/api-keys/${keyId}`, undefined, { token }),
      },
      'platform_apikey.manage': { run: (_t, token) => call(plane, 'GET', '/v1/api-keys', undefined, { token }) },
      'audit.read': { run: (_t, token) => call(plane, 'GET', '/v1/audit?limit=5', undefined, { token }) },
      'audit.write': {
        run: (t, token) =>
          call(
            plane,
            'POST',
            `/v1/tenants/${t}/audit-events`,
            { action: 'matrix.probe', target: 'probe/1' },
            { token },
          ),
      },
      'audit.verify': { run: (_t, token) => call(plane, 'GET', '/v1/audit/verify', undefined, { token }) },
      'token.create': { run: (_t, token) => call(plane, 'POST', '/v1/tokens', {}, { token }) },
      'secret.list': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/secrets`, undefined, { token }) },
      'secret.read': {
        prepare: (t) => call(plane, 'PUT', `/v1/tenants/${t}/secrets/probe`, { value: 'v' }),
        run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/secrets/probe`, undefined, { token }),
      },
      'secret.write': {
        run: (t, token) => call(plane, 'PUT', `/v1/tenants/${t}/secrets/written`, { value: 'v' }, { token }),
      },
      'key.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/keys`, undefined, { token }) },
      'key.rotate': { run: (t, token) => call(plane, 'POST', `/v1/tenants/${t}/keys/rotate`, {}, { token }) },
      'root_key.rotate': { run: (_t, token) => call(plane, 'POST', '/v1/root-key/rotate', {}, { token }) },
      'isolation.verify': {
        run: (_t, token) => call(plane, 'POST', '/v1/verify/isolation', { dryRun: true }, { token }),
      },
      'connection.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/connection`, undefined, { token }) },
      'job.read': { run: (_t, token) => call(plane, 'GET', '/v1/jobs', undefined, { token }) },
      'migration.run': { run: (t, token) => call(plane, 'POST', '/v1/migrations', { tenants: [t] }, { token }) },
      'event.read': { run: (_t, token) => call(plane, 'GET', '/v1/events?limit=5', undefined, { token }) },
      'webhook.read': { run: (_t, token) => call(plane, 'GET', '/v1/webhooks', undefined, { token }) },
      // A public address literal (no DNS), disabled so nothing is ever sent to it.
      'webhook.manage': {
        run: (_t, token) =>
          call(plane, 'POST', '/v1/webhooks', { url: 'https://93.184.215.14/hook', enabled: false }, { token }),
      },
      'usage.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/usage`, undefined, { token }) },
      'usage.write': {
        run: (t, token) =>
          call(
            plane,
            'POST',
            `/v1/tenants/${t}/usage`,
            {
              meters: [
                { id: `probe-${(n++).toString(36)}`, resource: 'requests', amount: 1, ts: new Date().toISOString() },
              ],
            },
            { token },
          ),
      },
      'object.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/objects`, undefined, { token }) },
      'object.write': {
        run: (t, token) =>
          call(plane, 'PUT', `/v1/tenants/${t}/objects/probe.txt`, 'probe', {
            token,
            headers: { 'content-type': 'text/plain' },
          }),
      },
      'approval.read': { run: (_t, token) => call(plane, 'GET', '/v1/approvals', undefined, { token }) },
      // The platform admin asks for a feature behind an approval; the probed role rejects it.
      'approval.decide': {
        prepare: async (t) => {
          await call(plane, 'PATCH', `/v1/tenants/${t}`, {
            spec: { governance: { approvals: { require: ['featureEnable'] } } },
          });
          const res = await call(plane, 'PATCH', `/v1/tenants/${t}`, {
            spec: { features: { [`probe${(n++).toString(36)}`]: true } },
          });
          expect(res.statusCode, res.body).toBe(202);
          return res.json().approval.id;
        },
        run: (_t, token, id) =>
          call(
            plane,
            'POST',
            `/v1/approvals/${id ?? 'apr_000000000000000000000000'}/reject`,
            { reason: 'matrix' },
            { token },
          ),
      },
      'sovereignty.check': {
        run: (t, token) =>
          call(
            plane,
            'POST',
            `/v1/tenants/${t}/sovereignty/check`,
            { operation: 'move', region: 'eu-west-1' },
            { token },
          ),
      },
      'lineage.write': {
        run: (t, token) =>
          call(
            plane,
            'POST',
            `/v1/tenants/${t}/lineage`,
            { records: [{ domain: 'support', usecase: 'faq', sourceId: 's1', queryId: 'q1', trustScore: 0.9 }] },
            { token },
          ),
      },
      'lineage.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/lineage`, undefined, { token }) },
      'governance.drift.read': {
        run: (_t, token) => call(plane, 'GET', '/v1/governance/drift?limit=5', undefined, { token }),
      },
      'policy.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/policies`, undefined, { token }) },
      'policy.write': {
        run: (t, token) =>
          call(
            plane,
            'POST',
            `/v1/tenants/${t}/policies/samples`,
            { domainId: 'billing', usecaseId: 'probe', name: 'probe', request: { action: 'view' } },
            { token },
          ),
      },
      'policy.evaluate': {
        prepare: async (t) =>
          commitPolicy(plane, t, policyDoc({ name: 'probe-eval' }), await registerPolicyKey(plane, t)),
        run: (t, token) =>
          call(
            plane,
            'POST',
            `/v1/tenants/${t}/policies/evaluate`,
            {
              domainId: 'billing',
              usecaseId: 'invoice-export',
              request: { action: 'view', amount: 1, user: { role: 'finance' } },
            },
            { token },
          ),
      },
      'policy.rollout': {
        prepare: async (t) => {
          const key = await registerPolicyKey(plane, t);
          await commitPolicy(plane, t, policyDoc({ name: 'probe-roll' }), key);
          await commitPolicy(plane, t, policyDoc({ name: 'probe-roll', semver: '1.1.0' }), key, {
            query: '?activate=false',
          });
        },
        run: (t, token) =>
          call(plane, 'POST', `/v1/tenants/${t}/policies/probe-roll/rollout`, { version: 2 }, { token }),
      },
      'policy.conflicts': { run: (_t, token) => call(plane, 'GET', '/v1/policy-conflicts', undefined, { token }) },
      'ai.invoke': {
        prepare: withRouter,
        run: (t, token) => call(plane, 'GET', '/v1/ai/models', undefined, { token, headers: { 'x-tenant-id': t } }),
      },
      'router.read': {
        prepare: withRouter,
        run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/router`, undefined, { token }),
      },
      'model_provider.read': { run: (_t, token) => call(plane, 'GET', '/v1/model-providers', undefined, { token }) },
      'model_provider.manage': {
        run: (_t, token) =>
          call(
            plane,
            'POST',
            '/v1/apply',
            { dryRun: true, items: [{ manifest: mockProvider('probe-provider', 'probe-model') }] },
            { token },
          ),
      },
      'corpus.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/corpora`, undefined, { token }) },
      'corpus.write': {
        run: (t, token) => call(plane, 'PUT', `/v1/tenants/${t}/corpora/probe`, { chunkSize: 100 }, { token }),
      },
      'slo.read': { run: (t, token) => call(plane, 'GET', `/v1/tenants/${t}/slos`, undefined, { token }) },
      'sli.write': {
        run: (t, token) =>
          call(
            plane,
            'POST',
            `/v1/tenants/${t}/slis`,
            { events: [{ ts: new Date().toISOString(), outcome: 'success', latencyMs: 5 }] },
            { token },
          ),
      },
      'slo.freeze_override': {
        run: (t, token) =>
          call(plane, 'GET', `/v1/tenants/${t}/slos`, undefined, {
            token,
            headers: { 'tenancy-freeze-override': 'probe' },
          }),
      },
      'platform_secret.manage': {
        run: (_t, token) => call(plane, 'GET', '/v1/platform-secrets', undefined, { token }),
      },
      'policy_key.manage': {
        run: (t, token) =>
          call(
            plane,
            'POST',
            `/v1/tenants/${t}/policy-keys`,
            { jwk: newPolicyKey().publicKey.export({ format: 'jwk' }) },
            { token },
          ),
      },
    };
    const results: string[] = [];
    for (const role of ROLES) {
      const platform = (PLATFORM_ROLES as readonly string[]).includes(role);
      const home = platform ? undefined : await fresh();
      const keyRes = platform
        ? await call(plane, 'POST', '/v1/api-keys', { name: role, role })
        : await call(plane, 'POST', `/v1/tenants/${home}/api-keys`, { name: role, role });
      const token = keyRes.json().token as string;
      for (const action of ACTIONS) {
        const allowed = PERMISSIONS[role as Role].has(action);
        const probe = probes[action];
        const target = platform ? await fresh() : home!;
        // Prepare state only where the call is expected to succeed (a denied call must fail on the role alone).
        const prep = probe.prepare && (allowed || action === 'apikey.revoke') ? await probe.prepare(target) : undefined;
        const res = await probe.run(target, token, prep);
        const ok = allowed
          ? res.statusCode >= 200 && res.statusCode < 300
          : res.statusCode === 403 && (res.json().code ?? res.json().error?.code) === 'forbidden';
        results.push(
          `${role} ${action} ${allowed ? 'allow' : 'deny'} -> ${res.statusCode}${ok ? '' : ` MISMATCH ${res.body.slice(0, 160)}`}`,
        );
        if (!platform && action === 'tenant.update' && allowed) expect(res.json().spec.name).toBe('renamed');
      }
    }
    expect(results.filter((r) => r.includes('MISMATCH'))).toEqual([]);
    expect(results).toHaveLength(ROLES.length * ACTIONS.length);
  }, 120_000);
});

describe('permission matrix documentation', () => {
  it('docs/permissions.md shows exactly the enforced matrix', async () => {
    const text = await readFile(new URL('../docs/permissions.md', import.meta.url), 'utf8');
    const header = text.split('\n').find((l) => l.startsWith('| action |'))!;
    const columns = header
      .split('|')
      .slice(2, -1)
      .map((c) => c.trim());
    expect(columns).toEqual([...PLATFORM_ROLES, ...TENANT_ROLES]);
    for (const action of ACTIONS) {
      const row = text.split('\n').find((l) => l.startsWith(`| \`${action}\` |`));
      expect(row, action).toBeDefined();
      const cells = row!
        .split('|')
        .slice(2, -1)
        .map((c) => c.trim());
      expect(cells, action).toEqual(columns.map((role) => (PERMISSIONS[role as Role].has(action) ? 'yes' : '-')));
    }
  });
});
