/**
 * Policies end to end on PGlite and PostgreSQL: signing keys, the four-stage commit (and
 * that every stage's failure commits nothing), versions and diff, evaluation, canary
 * rollout statistics, promote and rollback, isolation between tenants, the approvals
 * seam and policy commits behind approvals (202, approve commits, reject, stale),
 * cross-tenant conflicts and GitOps apply through the same stages.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { sql } from 'kysely';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { findPolicyConflicts, verifyPolicySignature } from '../src/governance/index.js';
import { liveTenantIds, readManifestPath } from '../src/tenants/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, manifest, tenantKey } from './support/http.js';
import { commitPolicy, newPolicyKey, policyDoc, registerPolicyKey, sign, type PolicyKey } from './support/policies.js';

describe.each(engines())('policies on %s', (engine) => {
  let plane: TestPlane;
  let key: PolicyKey;

  /** What a failed commit must leave untouched. */
  const snapshot = async (tenant: string) => {
    const db = plane.database.db;
    const versions = await db
      .selectFrom('policy_versions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenant)
      .executeTakeFirstOrThrow();
    const heads = await db
      .selectFrom('policy_heads')
      .selectAll()
      .where('tenant_id', '=', tenant)
      .orderBy('name')
      .execute();
    const events = await db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenant)
      .where('type', 'like', 'policy.%')
      .executeTakeFirstOrThrow();
    const audits = await db
      .selectFrom('audit_log')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenant)
      .where('action', 'like', 'policy.%')
      .executeTakeFirstOrThrow();
    return JSON.stringify({ versions: Number(versions.n), heads, events: Number(events.n), audits: Number(audits.n) });
  };

  beforeAll(async () => {
    plane = await startTestPlane(engine, { env: { TENANCY_POLICY_SANDBOX_TIMEOUT_MS: '700' } });
    await createActive(plane, 'pol-a');
    await createActive(plane, 'pol-b');
    await createActive(plane, 'pol-guarded', {
      governance: { policy: { allowedRuleKinds: ['access'], allowedDomains: ['billing'] } },
    });
    key = await registerPolicyKey(plane, 'pol-a');
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('describes every policy route in the OpenAPI document', async () => {
    const doc = (await call(plane, 'GET', '/openapi.json', undefined, { token: null })).json();
    const routes = plane.app.printRoutes({ commonPrefix: false });
    for (const path of [
      '/v1/tenants/{id}/policies',
      '/v1/tenants/{id}/policies/evaluate',
      '/v1/tenants/{id}/policies/{name}/rollout/promote',
      '/v1/tenants/{id}/policy-keys',
      '/v1/policy-conflicts',
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(doc.paths['/v1/tenants/{id}/policies'].post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/PolicyInput',
    });
    expect(doc.components.schemas.PolicyInput.properties.rules).toBeDefined();
    expect(doc.components.schemas.PolicyEvaluation.required).toEqual(
      expect.arrayContaining(['domainId', 'usecaseId', 'request']),
    );
    expect(routes).toContain('policies');
  });

  it('registers Ed25519 policy keys as JWK or PEM and refuses anything else', async () => {
    const pemKey = newPolicyKey();
    const pem = await call(plane, 'POST', '/v1/tenants/pol-b/policy-keys', {
      publicKeyPem: pemKey.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    expect(pem.statusCode, pem.body).toBe(201);
    expect(pem.json().id).toMatch(/^[A-Za-z0-9_-]{43}$/); // RFC 7638 thumbprint
    expect(pem.json().jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: pem.json().id });
    const list = (await call(plane, 'GET', '/v1/tenants/pol-b/policy-keys')).json();
    expect(list.items.map((k: any) => k.id)).toEqual([pem.json().id]);
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policy-keys', {
        publicKeyPem: pemKey.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      }),
      409,
      'policy_key_exists',
    );
    const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 });
    const refused = expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policy-keys', {
        publicKeyPem: rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      }),
      400,
      'invalid_policy_key',
    );
    expect(refused.errors[0]).toMatchObject({ path: '/publicKeyPem' });
    const priv = expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policy-keys', { jwk: pemKey.privateKey.export({ format: 'jwk' }) }),
      400,
      'invalid_policy_key',
    );
    expect(priv.errors[0].path).toBe('/jwk/d');
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policy-keys', { jwk: { kty: 'OKP' }, publicKeyPem: 'x' }),
      400,
      'invalid_policy_key',
    );
    expect((await call(plane, 'DELETE', `/v1/tenants/pol-b/policy-keys/${pem.json().id}`)).statusCode).toBe(200);
    expectProblem(
      await call(plane, 'DELETE', `/v1/tenants/pol-b/policy-keys/${pem.json().id}`),
      404,
      'policy_key_not_found',
    );
    expect((await call(plane, 'GET', '/v1/tenants/pol-b/policy-keys')).json().items).toEqual([]);
  });

  it('commits a signed policy in four reported stages, with its audit record and event', async () => {
    const res = await commitPolicy(plane, 'pol-a', policyDoc(), key);
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body.stages.map((s: any) => [s.name, s.ok])).toEqual([
      ['parse', true],
      ['validate', true],
      ['sandbox', true],
      ['commit', true],
    ]);
    expect(body.stages[2].samples).toEqual([
      expect.objectContaining({
        name: 'finance-export',
        from: 'policy',
        decision: 'allow',
        rule: 'allow-finance',
        ok: true,
      }),
      expect.objectContaining({ name: 'large', from: 'policy', decision: 'deny', rule: 'deny-large', ok: true }),
    ]);
    expect(body.policy).toMatchObject({
      tenantId: 'pol-a',
      name: 'export-guard',
      domainId: 'billing',
      usecaseId: 'invoice-export',
      version: 1,
      semver: '1.0.0',
      keyId: key.id,
      approvalStatus: 'not_required',
      source: 'api',
    });
    expect(body.active).toBe(true);
    const events = await plane.database.db
      .selectFrom('outbox')
      .selectAll()
      .where('tenant_id', '=', 'pol-a')
      .where('type', '=', 'policy.committed')
      .execute();
    expect(events.map((e) => e.payload)).toEqual([
      { name: 'export-guard', domainId: 'billing', usecaseId: 'invoice-export', semver: '1.0.0', version: 1 },
    ]);
    const audit = (await call(plane, 'GET', '/v1/audit?action=policy.commit&tenant=pol-a')).json().items;
    expect(audit).toEqual([
      expect.objectContaining({
        outcome: 'success',
        target: 'tenant/pol-a/policy/export-guard',
        details: expect.objectContaining({ semver: '1.0.0', version: 1, keyId: key.id }),
      }),
    ]);
    // The same document again is not a new version.
    const again = await commitPolicy(plane, 'pol-a', policyDoc(), key);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ committed: false, policy: { version: 1 } });
    expect(again.json().stages.find((s: any) => s.name === 'sandbox').skipped).toBe(true);
    expect((await call(plane, 'GET', '/v1/tenants/pol-a/policies')).json().items).toEqual([
      expect.objectContaining({
        name: 'export-guard',
        latestVersion: 1,
        stableVersion: 1,
        stableSemver: '1.0.0',
        rollout: null,
      }),
    ]);
  });

  it('commits nothing when any stage fails, with a stable code, the failing stage and the field path', async () => {
    const before = await snapshot('pol-a');
    const stranger = newPolicyKey(key.id); // same key id, different key
    const bump = { semver: '2.0.0' };
    const cases: Array<{
      what: string;
      res: () => Promise<any>;
      status: number;
      code: string;
      stage: string;
      path?: string;
    }> = [
      {
        what: 'unsigned',
        res: () => commitPolicy(plane, 'pol-a', policyDoc(bump), null),
        status: 422,
        code: 'policy_unsigned',
        stage: 'validate',
        path: '/originSignature',
      },
      {
        what: 'wrong key',
        res: () => commitPolicy(plane, 'pol-a', policyDoc(bump), stranger),
        status: 422,
        code: 'policy_signature_invalid',
        stage: 'validate',
        path: '/originSignature/signature',
      },
      {
        what: 'unknown key id',
        res: () => commitPolicy(plane, 'pol-a', policyDoc(bump), newPolicyKey('nobody')),
        status: 422,
        code: 'policy_signature_invalid',
        stage: 'validate',
        path: '/originSignature/keyId',
      },
      {
        what: 'tampered after signing',
        res: () =>
          call(plane, 'POST', '/v1/tenants/pol-a/policies', { ...sign(policyDoc(bump), key), defaultEffect: 'allow' }),
        status: 422,
        code: 'policy_signature_invalid',
        stage: 'validate',
        path: '/originSignature/signature',
      },
      {
        what: 'semver backwards',
        res: () => commitPolicy(plane, 'pol-a', policyDoc({ semver: '0.9.0' }), key),
        status: 409,
        code: 'policy_semver_not_increasing',
        stage: 'validate',
        path: '/semver',
      },
      {
        what: 'same semver, new content',
        res: () => commitPolicy(plane, 'pol-a', policyDoc({ description: 'changed' }), key),
        status: 409,
        code: 'policy_semver_not_increasing',
        stage: 'validate',
        path: '/semver',
      },
      {
        what: 'unknown field',
        res: () =>
          commitPolicy(
            plane,
            'pol-a',
            policyDoc({
              ...bump,
              rules: [{ id: 'r1', kind: 'access', effect: 'allow', when: 'request.user.department == "x"' }],
            }),
            key,
          ),
        status: 422,
        code: 'policy_unknown_field',
        stage: 'validate',
        path: '/rules/0/when',
      },
      {
        what: 'not boolean',
        res: () =>
          commitPolicy(
            plane,
            'pol-a',
            policyDoc({
              ...bump,
              rules: [{ id: 'r1', kind: 'access', effect: 'allow', when: 'request.amount + 1.0' }],
            }),
            key,
          ),
        status: 422,
        code: 'policy_rule_invalid',
        stage: 'validate',
        path: '/rules/0/when',
      },
      {
        what: 'syntax error',
        res: () =>
          commitPolicy(
            plane,
            'pol-a',
            policyDoc({ ...bump, rules: [{ id: 'r1', kind: 'access', effect: 'allow', when: 'request.(' }] }),
            key,
          ),
        status: 400,
        code: 'policy_parse_failed',
        stage: 'parse',
        path: '/rules/0/when',
      },
      {
        what: 'bad shape',
        res: () => commitPolicy(plane, 'pol-a', policyDoc({ ...bump, effect: 'maybe', semver: 'one' }), key),
        status: 400,
        code: 'policy_parse_failed',
        stage: 'parse',
        path: '/effect',
      },
      {
        what: 'moved namespace',
        res: () => commitPolicy(plane, 'pol-a', policyDoc({ ...bump, usecaseId: 'elsewhere' }), key),
        status: 422,
        code: 'policy_namespace_changed',
        stage: 'validate',
        path: '/usecaseId',
      },
      {
        what: 'sample expectation',
        res: () =>
          commitPolicy(
            plane,
            'pol-a',
            policyDoc({
              ...bump,
              samples: [
                {
                  name: 'viewer',
                  request: { action: 'view', amount: 1, user: { role: 'viewer' }, tags: [] },
                  expect: 'allow',
                },
              ],
            }),
            key,
          ),
        status: 422,
        code: 'policy_sample_mismatch',
        stage: 'sandbox',
        path: '/samples/0/expect',
      },
      {
        what: 'sandbox timeout (a cubic rule over a large sample)',
        res: () =>
          commitPolicy(
            plane,
            'pol-a',
            policyDoc({
              ...bump,
              rules: [
                {
                  id: 'cubic',
                  kind: 'access',
                  effect: 'deny',
                  when: 'request.tags.all(a, request.tags.all(b, request.tags.all(c, a + b != c)))',
                },
              ],
              samples: [
                {
                  name: 'huge',
                  request: {
                    action: 'x',
                    amount: 1,
                    user: { role: 'x' },
                    tags: Array.from({ length: 400 }, (_, i) => `t${i}`),
                  },
                },
              ],
            }),
            key,
          ),
        status: 422,
        code: 'policy_sandbox_timeout',
        stage: 'sandbox',
      },
    ];
    for (const c of cases) {
      const res = await c.res();
      const problem = expectProblem(res, c.status, c.code);
      expect(problem.stage, c.what).toBe(c.stage);
      const failed = problem.stages.find((s: any) => !s.ok);
      expect(failed.name, c.what).toBe(c.stage);
      expect(
        problem.stages.map((s: any) => s.name),
        c.what,
      ).toEqual(['parse', 'validate', 'sandbox', 'commit'].slice(0, problem.stages.length));
      expect(problem.detail, c.what).toContain('nothing was committed');
      if (c.path)
        expect(
          problem.errors.map((e: any) => e.path),
          c.what,
        ).toContain(c.path);
      expect(await snapshot('pol-a'), c.what).toBe(before);
    }
  });

  it('answers random and mutated documents with 4xx problems, random requests with a decision, and changes nothing', async () => {
    const before = await snapshot('pol-a');
    const signed = sign(policyDoc({ semver: '9.0.0' }), key);
    const keys = Object.keys(signed);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc
            .record({ key: fc.constantFrom(...keys), value: fc.jsonValue() })
            .filter(({ key: k, value }) => JSON.stringify(value) !== JSON.stringify(signed[k]))
            .map(({ key: k, value }) => ({ ...signed, [k]: value })),
        ),
        async (body) => {
          const res = await call(plane, 'POST', '/v1/tenants/pol-a/policies', JSON.stringify(body ?? null), {
            headers: { 'content-type': 'application/json' },
          });
          expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
          expect(res.statusCode, res.body).toBeLessThan(500);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        },
      ),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('action', 'amount', 'user', 'tags', 'other'), fc.jsonValue()),
        async (request) => {
          const res = await call(plane, 'POST', '/v1/tenants/pol-a/policies/evaluate', {
            domainId: 'billing',
            usecaseId: 'invoice-export',
            request,
          });
          // A `__proto__` key anywhere is refused by the JSON parser itself (prototype poisoning).
          if (JSON.stringify(request).includes('"__proto__":')) {
            expect(res.statusCode, res.body).toBe(400);
            expect(res.json().code).toBe('invalid_json');
            return;
          }
          expect(res.statusCode, res.body).toBe(200);
          expect(['allow', 'deny']).toContain(res.json().decision);
        },
      ),
      { numRuns: 60 },
    );
    expect(await snapshot('pol-a')).toBe(before);
  });

  it("refuses rule kinds and domains outside the tenant's allowlist, which only a platform role changes", async () => {
    const k = await registerPolicyKey(plane, 'pol-guarded');
    const before = await snapshot('pol-guarded');
    const kind = expectProblem(
      await commitPolicy(plane, 'pol-guarded', policyDoc(), k),
      422,
      'policy_rule_kind_not_allowed',
    );
    expect(kind.errors).toEqual([{ path: '/rules/0/kind', message: expect.stringContaining('limit') }]);
    const domain = expectProblem(
      await commitPolicy(
        plane,
        'pol-guarded',
        policyDoc({ domainId: 'hr', rules: [{ id: 'r', kind: 'access', effect: 'allow', when: 'true' }], samples: [] }),
        k,
      ),
      422,
      'policy_domain_not_allowed',
    );
    expect(domain.errors[0].path).toBe('/domainId');
    expect(await snapshot('pol-guarded')).toBe(before);
    const ok = await commitPolicy(
      plane,
      'pol-guarded',
      policyDoc({
        rules: [{ id: 'r', kind: 'access', effect: 'allow', when: 'request.action == "view"' }],
        samples: [],
      }),
      k,
    );
    expect(ok.statusCode, ok.body).toBe(201);
    const owner = await tenantKey(plane, 'pol-guarded', 'owner');
    const widen = expectProblem(
      await call(
        plane,
        'PATCH',
        '/v1/tenants/pol-guarded',
        { spec: { governance: { policy: { allowedRuleKinds: ['access', 'limit'] } } } },
        { token: owner.token },
      ),
      403,
      'forbidden_field',
    );
    expect(widen.errors[0].path).toBe('/spec/governance');
    expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/pol-guarded', {
        spec: { governance: { policy: { allowedRuleKinds: ['Not A Kind'] } } },
      }),
      400,
      'invalid_manifest',
    );
  });

  it('keeps versions immutable, lists them and diffs two by rule', async () => {
    const v2 = policyDoc({
      semver: '1.1.0',
      rules: [
        ...(policyDoc().rules as any[]),
        {
          id: 'allow-audit',
          kind: 'access',
          effect: 'allow',
          when: 'request.user.role == "auditor" && request.action == "view"',
        },
      ],
    });
    expect((await commitPolicy(plane, 'pol-a', v2, key)).statusCode).toBe(201);
    const versions = (await call(plane, 'GET', '/v1/tenants/pol-a/policies/export-guard/versions')).json().items;
    expect(versions.map((v: any) => [v.version, v.semver])).toEqual([
      [1, '1.0.0'],
      [2, '1.1.0'],
    ]);
    expect(versions[1].document.originSignature.keyId).toBe(key.id);
    const d = (await call(plane, 'GET', '/v1/tenants/pol-a/policies/export-guard/diff?from=1&to=2')).json();
    expect(d.changes).toEqual(
      expect.arrayContaining([
        { path: '/semver', op: 'replace', from: '1.0.0', to: '1.1.0' },
        expect.objectContaining({ path: '/rules/allow-audit', op: 'add' }),
      ]),
    );
    expect((await call(plane, 'GET', '/v1/tenants/pol-a/policies/export-guard/versions/1')).json().semver).toBe(
      '1.0.0',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/pol-a/policies/export-guard/versions/9'),
      404,
      'policy_version_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/pol-a/policies/export-guard/diff?from=1&to=x'),
      400,
      'invalid_query',
    );
    expectProblem(await call(plane, 'GET', '/v1/tenants/pol-a/policies/Bad!Name'), 400, 'invalid_policy_name');
    await expect(
      sql`update policy_versions set semver = '9.9.9' where tenant_id = 'pol-a'`.execute(plane.database.db),
    ).rejects.toThrow(/immutable/);
    await expect(sql`delete from policy_versions where tenant_id = 'pol-a'`.execute(plane.database.db)).rejects.toThrow(
      /immutable/,
    );
  });

  it('evaluates requests: allow or deny with the rule and version that decided', async () => {
    const evaluate = (request: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      call(plane, 'POST', '/v1/tenants/pol-a/policies/evaluate', {
        domainId: 'billing',
        usecaseId: 'invoice-export',
        request,
        ...extra,
      });
    const allow = (await evaluate({ action: 'export', amount: 10, user: { role: 'finance' }, tags: [] })).json();
    const input = {
      domainId: 'billing',
      usecaseId: 'invoice-export',
      request: { action: 'export', amount: 10, user: { role: 'finance' }, tags: [] },
    };
    expect(plane.policies.tryEvaluate('pol-a', input) ?? (await plane.policies.evaluate('pol-a', input))).toEqual(
      allow,
    );
    expect(allow).toMatchObject({
      decision: 'allow',
      rule: 'allow-finance',
      policy: 'export-guard',
      version: 2,
      semver: '1.1.0',
      canary: false,
    });
    expect((await evaluate({ action: 'view', amount: 10, user: { role: 'auditor' } })).json()).toMatchObject({
      decision: 'allow',
      rule: 'allow-audit',
    });
    expect((await evaluate({ action: 'export', amount: 20000, user: { role: 'finance' } })).json()).toMatchObject({
      decision: 'deny',
      rule: 'deny-large',
    });
    const fallback = (await evaluate({ action: 'delete', amount: 1, user: { role: 'intern' } })).json();
    expect(fallback).toMatchObject({ decision: 'deny', rule: null });
    // A missing field makes that rule not match (reported), it does not fail the call.
    const partial = (await evaluate({ action: 'view', user: { role: 'finance' } })).json();
    expect(partial).toMatchObject({ decision: 'allow', rule: 'allow-finance' });
    expect(partial.policies[0].errors[0]).toMatchObject({ rule: 'deny-large' });
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-a/policies/evaluate', {
        domainId: 'billing',
        usecaseId: 'nothing-here',
        request: {},
      }),
      404,
      'policy_not_found',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-a/policies/evaluate', { domainId: 'billing', request: {} }),
      400,
      'validation_failed',
    );
    // A second policy in the namespace: a deny from any policy decides.
    const blocker = policyDoc({
      name: 'freeze',
      rules: [{ id: 'freeze-exports', kind: 'access', effect: 'deny', when: 'request.action == "export"' }],
      defaultEffect: 'allow',
      samples: [],
    });
    expect((await commitPolicy(plane, 'pol-a', blocker, key)).statusCode).toBe(201);
    const both = (await evaluate({ action: 'export', amount: 10, user: { role: 'finance' } })).json();
    expect(both).toMatchObject({ decision: 'deny', rule: 'freeze-exports', policy: 'freeze' });
    expect(both.policies.map((p: any) => [p.policy, p.decision])).toEqual([
      ['export-guard', 'allow'],
      ['freeze', 'deny'],
    ]);
    expect(
      (await evaluate({ action: 'export', amount: 10, user: { role: 'finance' } }, { policy: 'export-guard' })).json(),
    ).toMatchObject({ decision: 'allow', policy: 'export-guard' });
  });

  it('rolls a version out to a stable share of traffic, promotes 10 -> 50 -> 100 and completes, auditing every decision', async () => {
    const k = await registerPolicyKey(plane, 'pol-b');
    const base = { name: 'gate', domainId: 'ai', usecaseId: 'chat', fields: { user: 'string' }, samples: [] };
    expect(
      (
        await commitPolicy(
          plane,
          'pol-b',
          {
            ...base,
            semver: '1.0.0',
            defaultEffect: 'deny',
            rules: [{ id: 'v1-deny', kind: 'access', effect: 'deny', when: 'true' }],
          },
          k,
        )
      ).statusCode,
    ).toBe(201);
    const v2 = await commitPolicy(
      plane,
      'pol-b',
      {
        ...base,
        semver: '2.0.0',
        defaultEffect: 'deny',
        rules: [{ id: 'v2-allow', kind: 'access', effect: 'allow', when: 'true' }],
      },
      k,
      { query: '?activate=false' },
    );
    expect(v2.json()).toMatchObject({ committed: true, active: false, policy: { version: 2 } });
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout/promote', {}),
      409,
      'policy_no_rollout',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout', { version: 1 }),
      409,
      'policy_version_already_stable',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout', { version: 7 }),
      404,
      'policy_version_not_found',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout', { version: 2, steps: [50, 10] }),
      400,
      'validation_failed',
    );
    const started = await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout', {
      version: 2,
      by: 'traffic',
      reason: 'try v2',
    });
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json().rollout).toMatchObject({ version: 2, by: 'traffic', steps: [10, 50, 100], percent: 10 });

    const N = 4000;
    // The canary version allows and the stable one denies (and the reverse once v2 is stable).
    let canaryDecision = 'allow';
    const share = async () => {
      const canary = new Set<number>();
      for (let i = 0; i < N; i++) {
        const r = await plane.policies.evaluate('pol-b', {
          domainId: 'ai',
          usecaseId: 'chat',
          request: { user: `u${i}` },
          key: `user-${i}`,
        });
        expect(r.decision).toBe(r.canary === (canaryDecision === 'allow') ? 'allow' : 'deny');
        if (r.canary) canary.add(i);
      }
      return canary;
    };
    const at10 = await share();
    expect(Math.abs(at10.size / N - 0.1)).toBeLessThan(0.025);
    expect(await share()).toEqual(at10); // stable: the same keys, the same side
    // Over HTTP too, with the version that answered.
    const one = (
      await call(plane, 'POST', '/v1/tenants/pol-b/policies/evaluate', {
        domainId: 'ai',
        usecaseId: 'chat',
        request: { user: 'x' },
        key: `user-${[...at10][0]}`,
      })
    ).json();
    expect(one).toMatchObject({ decision: 'allow', rule: 'v2-allow', version: 2, semver: '2.0.0', canary: true });

    expect(
      (await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout/promote', { reason: 'healthy' })).json()
        .rollout.percent,
    ).toBe(50);
    const at50 = await share();
    expect(Math.abs(at50.size / N - 0.5)).toBeLessThan(0.04);
    for (const i of at10) expect(at50.has(i)).toBe(true); // the cohort only grows
    expect(
      (await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout/promote', {})).json().rollout.percent,
    ).toBe(100);
    expect((await share()).size).toBe(N);
    const done = (await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout/promote', {})).json();
    expect(done).toMatchObject({ stableVersion: 2, stableSemver: '2.0.0', rollout: null });
    expect(
      (await plane.policies.evaluate('pol-b', { domainId: 'ai', usecaseId: 'chat', request: { user: 'z' } })).canary,
    ).toBe(false);

    // Roll back a third version: traffic returns to the stable version at once.
    expect(
      (
        await commitPolicy(
          plane,
          'pol-b',
          {
            ...base,
            semver: '3.0.0',
            defaultEffect: 'deny',
            rules: [{ id: 'v3-deny', kind: 'access', effect: 'deny', when: 'true' }],
          },
          k,
          { query: '?activate=false' },
        )
      ).statusCode,
    ).toBe(201);
    expect(
      (await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout', { version: 3, steps: [25, 100] })).json()
        .rollout.percent,
    ).toBe(25);
    canaryDecision = 'deny';
    const at25 = await share();
    expect(Math.abs(at25.size / N - 0.25)).toBeLessThan(0.035);
    expectProblem(
      await commitPolicy(
        plane,
        'pol-b',
        {
          ...base,
          semver: '3.1.0',
          defaultEffect: 'deny',
          rules: [{ id: 'x', kind: 'access', effect: 'deny', when: 'true' }],
        },
        k,
      ),
      409,
      'policy_rollout_in_progress',
    );
    const rolledBack = (
      await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout/rollback', { reason: 'errors up' })
    ).json();
    expect(rolledBack).toMatchObject({ stableVersion: 2, latestVersion: 3, rollout: null });
    expect((await share()).size).toBe(0);

    const audit = (await call(plane, 'GET', '/v1/audit?tenant=pol-b&limit=500'))
      .json()
      .items.filter((r: any) => r.action.startsWith('policy.rollout.'));
    expect(audit.map((r: any) => [r.action, r.details.percent])).toEqual([
      ['policy.rollout.start', 10],
      ['policy.rollout.promote', 50],
      ['policy.rollout.promote', 100],
      ['policy.rollout.complete', 100],
      ['policy.rollout.start', 25],
      ['policy.rollout.rollback', 25],
    ]);
    expect(audit[5].details.reason).toBe('errors up');
    const events = (await call(plane, 'GET', '/v1/events?tenant=pol-b&type=tenancy.policy.*&limit=100'))
      .json()
      .items.map((e: any) => e.type);
    expect(events).toEqual(
      expect.arrayContaining([
        'tenancy.policy.rollout_started',
        'tenancy.policy.rollout_promoted',
        'tenancy.policy.rollout_completed',
        'tenancy.policy.rollout_rolled_back',
        'tenancy.policy.committed',
      ]),
    );
  });

  it("rolls out by tenant: all of one tenant's traffic is on one side", async () => {
    await createActive(plane, 'pol-t');
    const k = await registerPolicyKey(plane, 'pol-t');
    const base = {
      name: 'gate',
      domainId: 'ai',
      usecaseId: 'chat',
      fields: { user: 'string' },
      samples: [],
      defaultEffect: 'deny',
    };
    await commitPolicy(
      plane,
      'pol-t',
      { ...base, semver: '1.0.0', rules: [{ id: 'a', kind: 'access', effect: 'deny', when: 'true' }] },
      k,
    );
    await commitPolicy(
      plane,
      'pol-t',
      { ...base, semver: '1.1.0', rules: [{ id: 'b', kind: 'access', effect: 'allow', when: 'true' }] },
      k,
      { query: '?activate=false' },
    );
    await call(plane, 'POST', '/v1/tenants/pol-t/policies/gate/rollout', {
      version: 2,
      by: 'tenant',
      steps: [50, 100],
    });
    const sides = new Set<boolean>();
    for (let i = 0; i < 200; i++)
      sides.add(
        (
          await plane.policies.evaluate('pol-t', {
            domainId: 'ai',
            usecaseId: 'chat',
            request: { user: `u${i}` },
            key: `k${i}`,
          })
        ).canary,
      );
    expect(sides.size).toBe(1);
  });

  it("keeps tenants apart: another tenant's policies are 404, and its keys cannot sign here", async () => {
    const ownerA = await tenantKey(plane, 'pol-a', 'owner');
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/pol-b/policies', undefined, { token: ownerA.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/pol-b/policies/gate/versions', undefined, { token: ownerA.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await commitPolicy(plane, 'pol-b', policyDoc({ name: 'intruder' }), key, { token: ownerA.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(
        plane,
        'POST',
        '/v1/tenants/pol-b/policies/evaluate',
        { domainId: 'ai', usecaseId: 'chat', request: { user: 'x' } },
        { token: ownerA.token },
      ),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-b/policies/gate/rollout/rollback', {}, { token: ownerA.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(
        plane,
        'POST',
        '/v1/tenants/pol-b/policy-keys',
        { jwk: newPolicyKey().publicKey.export({ format: 'jwk' }) },
        { token: ownerA.token },
      ),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/policy-conflicts', undefined, { token: ownerA.token }),
      403,
      'forbidden',
    );
    // Even a platform caller cannot commit to B a policy signed by A's key.
    const before = await snapshot('pol-b');
    expectProblem(
      await commitPolicy(plane, 'pol-b', policyDoc({ name: 'borrowed' }), key),
      422,
      'policy_signature_invalid',
    );
    expect(await snapshot('pol-b')).toBe(before);
    // A's own credential works on A.
    const own = await call(plane, 'GET', '/v1/tenants/pol-a/policies', undefined, { token: ownerA.token });
    expect(own.json().items.map((p: any) => p.tenantId)).toEqual(['pol-a', 'pol-a']);
    const viewer = await tenantKey(plane, 'pol-a', 'viewer');
    expectProblem(
      await commitPolicy(plane, 'pol-a', policyDoc({ semver: '5.0.0' }), key, { token: viewer.token }),
      403,
      'forbidden',
    );
  });

  it('records sample requests that every later commit is sandboxed against', async () => {
    const rec = await call(plane, 'POST', '/v1/tenants/pol-a/policies/samples', {
      domainId: 'billing',
      usecaseId: 'invoice-export',
      name: 'intern-export',
      request: { action: 'export', amount: 5, user: { role: 'intern' }, tags: [] },
      expect: 'deny',
    });
    expect(rec.statusCode, rec.body).toBe(201);
    expect(
      (await call(plane, 'GET', '/v1/tenants/pol-a/policies/samples?domainId=billing'))
        .json()
        .items.map((s: any) => s.name),
    ).toEqual(['intern-export']);
    const before = await snapshot('pol-a');
    const loose = policyDoc({
      semver: '1.2.0',
      rules: [{ id: 'allow-all', kind: 'access', effect: 'allow', when: 'true' }],
      samples: [],
    });
    const problem = expectProblem(await commitPolicy(plane, 'pol-a', loose, key), 422, 'policy_sample_mismatch');
    expect(problem.stages[2].samples).toEqual([
      expect.objectContaining({
        name: 'intern-export',
        from: 'recorded',
        decision: 'allow',
        expect: 'deny',
        ok: false,
      }),
    ]);
    expect(problem.errors[0].path).toBe('/recordedSamples/intern-export');
    expect(await snapshot('pol-a')).not.toBe(''); // sanity
    expect(await snapshot('pol-a')).toBe(before);
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/pol-a/policies/samples', {
        domainId: 'billing',
        usecaseId: 'invoice-export',
        name: 'Bad Name',
        request: {},
      }),
      400,
      'validation_failed',
    );
    expect(
      (await call(plane, 'DELETE', '/v1/tenants/pol-a/policies/samples/billing/invoice-export/intern-export'))
        .statusCode,
    ).toBe(200);
    expectProblem(
      await call(plane, 'DELETE', '/v1/tenants/pol-a/policies/samples/billing/invoice-export/intern-export'),
      404,
      'policy_sample_not_found',
    );
  });

  it('fails a gated commit with policy_approval_required when no requester is wired, and commits after approval', async () => {
    const [gate, requester] = [plane.policies.approvalGate, plane.policies.approvalRequester];
    plane.policies.approvalGate = async ({ domainId }) => (domainId === 'billing' ? 'required' : 'not_required');
    plane.policies.approvalRequester = undefined;
    try {
      const doc = sign(policyDoc({ semver: '1.3.0' }), key);
      const before = await snapshot('pol-a');
      const gated = expectProblem(
        await call(plane, 'POST', '/v1/tenants/pol-a/policies', doc),
        409,
        'policy_approval_required',
      );
      expect(gated.stage).toBe('commit');
      expect(await snapshot('pol-a')).toBe(before);
      const dry = (await call(plane, 'POST', '/v1/tenants/pol-a/policies?dryRun=true', doc)).json();
      expect(dry).toMatchObject({ dryRun: true, committed: false });
      expect(await snapshot('pol-a')).toBe(before);
      const approved = await plane.policies.commitAfterApproval(
        { id: 'system:approvals', correlationId: null },
        'pol-a',
        doc,
        { ref: 'apr_123' },
      );
      expect(approved.policy).toMatchObject({ semver: '1.3.0', approvalStatus: 'approved', approvalRef: 'apr_123' });
    } finally {
      plane.policies.approvalGate = gate;
      plane.policies.approvalRequester = requester;
    }
  });

  describe('for a tenant whose governance requires policyChange', () => {
    const tenant = 'pol-gated';
    let gk: PolicyKey;
    let requester: { token: string; id: string };
    let approver: { token: string; id: string };
    const approvals = async () =>
      Number(
        (
          await plane.database.db
            .selectFrom('approvals')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('tenant_id', '=', tenant)
            .executeTakeFirstOrThrow()
        ).n,
      );
    const versions = async () =>
      await plane.database.db
        .selectFrom('policy_versions')
        .select(['version', 'semver', 'approval_status', 'approval_ref'])
        .where('tenant_id', '=', tenant)
        .orderBy('version')
        .execute();
    const request = async (semverValue: string, extra: Record<string, unknown> = {}, query = '') => {
      const res = await commitPolicy(plane, tenant, policyDoc({ semver: semverValue, ...extra }), gk, {
        token: requester.token,
        query,
      });
      expect(res.statusCode, res.body).toBe(202);
      return res;
    };

    beforeAll(async () => {
      await createActive(plane, tenant, {
        governance: { approvals: { require: ['policyChange'], approverRoles: ['owner', 'platform-admin'] } },
      });
      gk = await registerPolicyKey(plane, tenant);
      requester = await tenantKey(plane, tenant, 'admin');
      approver = await tenantKey(plane, tenant, 'owner');
    });

    it('answers 202 with a pending approval and the three stages, and commits nothing; dry runs and failing stages file nothing', async () => {
      const before = await snapshot(tenant);
      const dry = await commitPolicy(plane, tenant, policyDoc(), gk, { token: requester.token, query: '?dryRun=true' });
      expect(dry.statusCode, dry.body).toBe(200);
      expectProblem(
        await commitPolicy(plane, tenant, policyDoc(), null, { token: requester.token }),
        422,
        'policy_unsigned',
      );
      expectProblem(
        await commitPolicy(
          plane,
          tenant,
          policyDoc({
            samples: [
              {
                name: 'x',
                request: { action: 'view', amount: 1, user: { role: 'viewer' }, tags: [] },
                expect: 'allow',
              },
            ],
          }),
          gk,
          { token: requester.token },
        ),
        422,
        'policy_sample_mismatch',
      );
      expect(await approvals()).toBe(0);
      const res = await request('1.0.0');
      const body = res.json();
      expect(res.headers.location).toBe(`/v1/approvals/${body.approval.id}`);
      expect(body.status).toBe('pending_approval');
      expect(body.stages.map((s: any) => [s.name, s.ok])).toEqual([
        ['parse', true],
        ['validate', true],
        ['sandbox', true],
      ]);
      expect(body.approval).toMatchObject({
        tenantId: tenant,
        kind: 'policyChange',
        status: 'pending',
        summary: 'commit policy export-guard 1.0.0 (billing/invoice-export)',
        approverRoles: ['owner', 'platform-admin'],
        requestedBy: `apikey:${requester.id}`,
        base: { policy: 'export-guard', latestVersion: 0 },
        change: {
          type: 'policy',
          name: 'export-guard',
          semver: '1.0.0',
          activate: true,
          source: 'api',
          document: sign(policyDoc(), gk),
        },
      });
      expect(await snapshot(tenant)).toBe(before);
      expect(await versions()).toEqual([]);
      expectProblem(await call(plane, 'GET', `/v1/tenants/${tenant}/policies/export-guard`), 404, 'policy_not_found');
      // The requester cannot approve; an admin is not an approver for this tenant.
      expectProblem(
        await call(plane, 'POST', `/v1/approvals/${body.approval.id}/approve`, {}, { token: requester.token }),
        403,
        'self_approval',
      );
      const admin2 = await tenantKey(plane, tenant, 'admin');
      expectProblem(
        await call(plane, 'POST', `/v1/approvals/${body.approval.id}/approve`, {}, { token: admin2.token }),
        403,
        'approver_role_required',
      );
      expect(await versions()).toEqual([]);
      // Rejecting leaves everything as it was.
      const rejected = await call(
        plane,
        'POST',
        `/v1/approvals/${body.approval.id}/reject`,
        { reason: 'not yet' },
        { token: approver.token },
      );
      expect(rejected.statusCode, rejected.body).toBe(200);
      expect(rejected.json()).toMatchObject({ status: 'rejected', result: null });
      expect(await snapshot(tenant)).toBe(before);
    });

    it('commits the stored document on approval, in the decision transaction, as approved with the approval id', async () => {
      const { approval } = (await request('1.0.0')).json();
      const ok = await call(
        plane,
        'POST',
        `/v1/approvals/${approval.id}/approve`,
        { reason: 'reviewed' },
        { token: approver.token },
      );
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json()).toMatchObject({
        status: 'approved',
        decidedBy: `apikey:${approver.id}`,
        result: { policy: 'export-guard', version: 1, semver: '1.0.0', active: true },
      });
      const version = (await call(plane, 'GET', `/v1/tenants/${tenant}/policies/export-guard/versions/1`)).json();
      expect(version).toMatchObject({
        semver: '1.0.0',
        approvalStatus: 'approved',
        approvalRef: approval.id,
        committedBy: `apikey:${approver.id}`,
        source: 'api',
        document: sign(policyDoc(), gk),
      });
      const audit = (await call(plane, 'GET', `/v1/audit?action=policy.commit&tenant=${tenant}`)).json().items;
      expect(audit).toEqual([
        expect.objectContaining({
          actor: `apikey:${approver.id}`,
          details: expect.objectContaining({ version: 1, approvalStatus: 'approved', approvalRef: approval.id }),
        }),
      ]);
      // The version, its audit record and events were written with the decision, in one transaction.
      const db = plane.database.db;
      const decision = await db
        .selectFrom('approvals')
        .select('decided_at')
        .where('id', '=', approval.id)
        .executeTakeFirstOrThrow();
      const committed = await db
        .selectFrom('policy_versions')
        .select('committed_at')
        .where('tenant_id', '=', tenant)
        .where('version', '=', 1)
        .executeTakeFirstOrThrow();
      expect(
        Math.abs(new Date(decision.decided_at!).getTime() - new Date(committed.committed_at).getTime()),
      ).toBeLessThan(5_000);
      const events = (await call(plane, 'GET', `/v1/events?limit=1000&tenant=${tenant}`))
        .json()
        .items.map((e: any) => e.type);
      expect(events).toEqual(
        expect.arrayContaining(['tenancy.approval.requested', 'tenancy.approval.approved', 'tenancy.policy.committed']),
      );
      // It serves at once (the policy cache was invalidated after the decision).
      const decided = (
        await call(plane, 'POST', `/v1/tenants/${tenant}/policies/evaluate`, {
          domainId: 'billing',
          usecaseId: 'invoice-export',
          request: { action: 'export', amount: 50000, user: { role: 'finance' }, tags: [] },
        })
      ).json();
      expect(decided).toMatchObject({ decision: 'deny', rule: 'deny-large', version: 1 });
      expectProblem(
        await call(plane, 'POST', `/v1/approvals/${approval.id}/approve`, {}, { token: approver.token }),
        409,
        'approval_not_pending',
      );
      // The same document again is unchanged: no approval is filed for it.
      const same = await commitPolicy(plane, tenant, policyDoc(), gk, { token: requester.token });
      expect(same.statusCode, same.body).toBe(200);
      expect(same.json()).toMatchObject({ committed: false, policy: { version: 1 } });
    });

    it('refuses an approval as stale when another version was committed since, and commits nothing', async () => {
      const first = (await request('1.1.0')).json().approval;
      const second = (await request('1.2.0', { description: 'second' })).json().approval;
      expect(first.base.latestVersion).toBe(1);
      expect(
        (await call(plane, 'POST', `/v1/approvals/${second.id}/approve`, {}, { token: approver.token })).statusCode,
      ).toBe(200);
      const before = await snapshot(tenant);
      const stale = expectProblem(
        await call(plane, 'POST', `/v1/approvals/${first.id}/approve`, {}, { token: approver.token }),
        409,
        'approval_stale',
      );
      expect(stale.detail).toContain('version 2');
      expect((await call(plane, 'GET', `/v1/approvals/${first.id}`)).json().status).toBe('stale');
      expect(await snapshot(tenant)).toBe(before);
      expect((await versions()).map((v) => [v.version, v.semver, v.approval_status, v.approval_ref])).toEqual([
        [1, '1.0.0', 'approved', expect.stringMatching(/^apr_/)],
        [2, '1.2.0', 'approved', second.id],
      ]);
    });

    it('runs the sandbox again on approval: a sample recorded since that the policy fails makes it stale', async () => {
      const pending = (
        await request('1.3.0', {
          rules: [{ id: 'allow-all', kind: 'access', effect: 'allow', when: 'true' }],
          samples: [],
        })
      ).json().approval;
      const rec = await call(plane, 'POST', `/v1/tenants/${tenant}/policies/samples`, {
        domainId: 'billing',
        usecaseId: 'invoice-export',
        name: 'intern',
        request: { action: 'export', amount: 5, user: { role: 'intern' }, tags: [] },
        expect: 'deny',
      });
      expect(rec.statusCode, rec.body).toBe(201);
      const before = await snapshot(tenant);
      const stale = expectProblem(
        await call(plane, 'POST', `/v1/approvals/${pending.id}/approve`, {}, { token: approver.token }),
        409,
        'approval_stale',
      );
      expect(stale.detail).toContain('policy_sample_mismatch');
      expect((await call(plane, 'GET', `/v1/approvals/${pending.id}`)).json().status).toBe('stale');
      expect(await snapshot(tenant)).toBe(before);
    });

    it('keeps activate=false, and refuses policy documents in an apply bundle for this tenant', async () => {
      const pending = (await request('1.4.0', {}, '?activate=false')).json().approval;
      expect(pending.change.activate).toBe(false);
      expect(pending.summary).toContain('without activating it');
      const ok = await call(plane, 'POST', `/v1/approvals/${pending.id}/approve`, {}, { token: approver.token });
      expect(ok.json().result).toMatchObject({ version: 3, active: false });
      expect((await call(plane, 'GET', `/v1/tenants/${tenant}/policies/export-guard`)).json()).toMatchObject({
        latestVersion: 3,
        stableVersion: 2,
      });
      const { name, ...spec } = sign(policyDoc({ semver: '1.5.0' }), gk);
      const before = await snapshot(tenant);
      const bundle = await call(plane, 'POST', '/v1/apply', {
        items: [{ manifest: { apiVersion: 'tenancy/v1', kind: 'TenantPolicy', metadata: { tenant, name }, spec } }],
      });
      expectProblem(bundle, 409, 'policy_approval_required');
      expect(await snapshot(tenant)).toBe(before);
    });
  });

  it('finds tenants whose active policies decide the same request oppositely', async () => {
    const mk = async (tenant: string, effect: 'allow' | 'deny') => {
      await createActive(plane, tenant);
      const k = await registerPolicyKey(plane, tenant);
      const res = await commitPolicy(
        plane,
        tenant,
        {
          name: 'share',
          domainId: 'data',
          usecaseId: 'sharing',
          semver: '1.0.0',
          fields: { action: 'string' },
          defaultEffect: 'allow',
          rules: [{ id: `${effect}-share`, kind: 'access', effect, when: 'request.action == "share"' }],
          samples: [{ name: 'share', request: { action: 'share' } }],
        },
        k,
      );
      expect(res.statusCode, res.body).toBe(201);
    };
    await mk('conf-x', 'allow');
    await mk('conf-y', 'deny');
    await mk('conf-z', 'allow');
    const all = await findPolicyConflicts(plane.database, { liveTenantIds: liveTenantIds(plane.database.db) });
    const pairs = all
      .filter((c) => c.domainId === 'data')
      .map((c) => c.tenants.join('+'))
      .sort();
    expect(pairs).toEqual(['conf-x+conf-y', 'conf-y+conf-z']);
    expect(all.find((c) => c.tenants.join('+') === 'conf-x+conf-y')).toMatchObject({
      usecaseId: 'sharing',
      rule: 'share/allow-share vs share/deny-share',
      detail: expect.stringContaining('conf-y decides deny'),
    });
    const onlyZ = await findPolicyConflicts(plane.database, {
      tenantId: 'conf-z',
      liveTenantIds: liveTenantIds(plane.database.db),
    });
    expect(onlyZ.map((c) => c.tenants.join('+'))).toEqual(['conf-y+conf-z']);
    const http = (await call(plane, 'GET', '/v1/policy-conflicts?tenant=conf-x')).json().items;
    expect(http.map((c: any) => c.tenants)).toEqual([['conf-x', 'conf-y']]);
  });

  it('commits TenantPolicy documents of a GitOps folder through the same stages, all or nothing', async () => {
    await createActive(plane, 'pol-git');
    const k = await registerPolicyKey(plane, 'pol-git');
    const folderDoc = (semverValue: string, signWith: PolicyKey | null, extra: Record<string, unknown> = {}) => {
      const { name, ...spec } = policyDoc({ name: 'export-guard', semver: semverValue, ...extra });
      const signed = signWith ? sign({ name, ...spec }, signWith) : { name, ...spec };
      const { name: _n, ...signedSpec } = signed;
      return {
        apiVersion: 'tenancy/v1',
        kind: 'TenantPolicy',
        metadata: { tenant: 'pol-git', name },
        spec: signedSpec,
      };
    };
    const dir = await mkdtemp(join(tmpdir(), 'tenancy-gitops-'));
    try {
      await mkdir(join(dir, 'tenants', 'pol-git', 'policies'), { recursive: true });
      await writeFile(join(dir, 'tenants', 'pol-git', 'tenant.yaml'), stringify(manifest('pol-git')));
      await writeFile(
        join(dir, 'tenants', 'pol-git', 'policies', 'export-guard.yaml'),
        stringify(folderDoc('1.0.0', k)),
      );
      const items = await readManifestPath(join(dir, 'tenants'));
      const dry = await call(plane, 'POST', '/v1/apply', { dryRun: true, items });
      expect(dry.statusCode, dry.body).toBe(200);
      expect(dry.json().items.find((i: any) => i.kind === 'TenantPolicy')).toMatchObject({
        action: 'create',
        name: 'export-guard',
      });
      expect((await call(plane, 'GET', '/v1/tenants/pol-git/policies')).json().items).toEqual([]);
      const applied = await call(plane, 'POST', '/v1/apply', { items });
      expect(applied.statusCode, applied.body).toBe(200);
      expect(applied.json().items.find((i: any) => i.kind === 'TenantPolicy')).toMatchObject({ action: 'create' });
      const versions = (await call(plane, 'GET', '/v1/tenants/pol-git/policies/export-guard/versions')).json().items;
      expect(versions).toEqual([
        expect.objectContaining({
          version: 1,
          semver: '1.0.0',
          keyId: k.id,
          source: expect.stringContaining('tenants/pol-git/policies/export-guard.yaml'),
        }),
      ]);
      // Applying the same folder again changes nothing.
      expect(
        (await call(plane, 'POST', '/v1/apply', { items })).json().items.find((i: any) => i.kind === 'TenantPolicy')
          .action,
      ).toBe('unchanged');
      // An unsigned policy refuses the whole bundle, including the tenant change beside it.
      const before = await snapshot('pol-git');
      const bad = await call(plane, 'POST', '/v1/apply', {
        items: [{ manifest: manifest('pol-git', { name: 'Renamed' }) }, { manifest: folderDoc('1.1.0', null) }],
      });
      const problem = expectProblem(bad, 422, 'policy_unsigned');
      expect(problem.errors).toEqual([expect.objectContaining({ path: '/items/1/manifest/spec/originSignature' })]);
      expect(problem.stage).toBe('validate');
      expect((await call(plane, 'GET', '/v1/tenants/pol-git')).json().spec.name).toBe('Tenant pol-git');
      expect(await snapshot('pol-git')).toBe(before);
      // Semver going backwards in the folder is refused too; a YAML body works like a bundle.
      const yamlBody = stringify(folderDoc('0.1.0', k));
      const back = await call(plane, 'POST', '/v1/apply', yamlBody, {
        headers: { 'content-type': 'application/yaml' },
      });
      expectProblem(back, 409, 'policy_semver_not_increasing');
      const forward = await call(plane, 'POST', '/v1/apply', stringify(folderDoc('1.1.0', k)), {
        headers: { 'content-type': 'application/yaml' },
      });
      expect(forward.json().items).toEqual([expect.objectContaining({ kind: 'TenantPolicy', action: 'update' })]);
      // The same document can be posted to the policies route as YAML.
      const viaRoute = await call(plane, 'POST', '/v1/tenants/pol-git/policies', stringify(folderDoc('1.2.0', k)), {
        headers: { 'content-type': 'application/yaml' },
      });
      expect(viaRoute.statusCode, viaRoute.body).toBe(201);
      expectProblem(
        await call(plane, 'POST', '/v1/tenants/pol-a/policies', stringify(folderDoc('1.3.0', k)), {
          headers: { 'content-type': 'application/yaml' },
        }),
        400,
        'tenant_mismatch',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('applies the example folder, whose manifest carries the key that signed its policy', async () => {
    const applied = await call(plane, 'POST', '/v1/apply', { items: await readManifestPath('examples/tenants') });
    expect(applied.statusCode, applied.body).toBe(200);
    expect(applied.json().items.find((i: any) => i.kind === 'TenantPolicy')).toMatchObject({
      tenant: 'acme-corp',
      name: 'require-mfa',
      action: 'create',
    });
    const decide = (mfa: boolean) =>
      call(plane, 'POST', '/v1/tenants/acme-corp/policies/evaluate', {
        domainId: 'identity',
        usecaseId: 'admin-console',
        request: { action: 'login', user: { role: 'admin', mfa } },
      });
    expect((await decide(false)).json()).toMatchObject({
      decision: 'deny',
      rule: 'deny-privileged-without-mfa',
      policy: 'require-mfa',
      version: 1,
    });
    expect((await decide(true)).json()).toMatchObject({ decision: 'allow', rule: null });
  });

  it('signs a policy file locally with `tenancy policy sign`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tenancy-sign-'));
    try {
      const k = newPolicyKey('ci-key');
      await writeFile(join(dir, 'key.pem'), k.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
      const { name, ...spec } = policyDoc({ name: 'signed-by-cli' });
      await writeFile(
        join(dir, 'p.yaml'),
        stringify({ apiVersion: 'tenancy/v1', kind: 'TenantPolicy', metadata: { tenant: 'pol-b', name }, spec }),
      );
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(
        ['policy', 'sign', '-f', join(dir, 'p.yaml'), '--key', join(dir, 'key.pem'), '--key-id', 'ci-key', '--write'],
        { out: (l) => out.push(l), err: (l) => err.push(l) },
      );
      expect({ code, err }).toEqual({ code: 0, err: [] });
      const signed = parse(await readFile(join(dir, 'p.yaml'), 'utf8'));
      expect(signed.spec.originSignature.keyId).toBe('ci-key');
      const pem = k.publicKey.export({ format: 'pem', type: 'spki' }).toString();
      expect(verifyPolicySignature({ name, ...signed.spec }, pem, signed.spec.originSignature.signature)).toBe(true);
      const bad = await main(['policy', 'sign', '-f', join(dir, 'p.yaml'), '--key', join(dir, 'p.yaml')], {
        out: () => undefined,
        err: (l) => err.push(l),
      });
      expect(bad).toBe(1);
      expect(err[0]).toMatch(/^tenancy: .*not a private key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("removes a tenant's policies at its purge, the only way versions are ever deleted", async () => {
    await createActive(plane, 'pol-gone', { config: { retentionDays: 0 } });
    await createActive(plane, 'pol-kept');
    const k = await registerPolicyKey(plane, 'pol-gone');
    expect((await commitPolicy(plane, 'pol-gone', policyDoc(), k)).statusCode).toBe(201);
    expect(
      (await commitPolicy(plane, 'pol-kept', policyDoc(), await registerPolicyKey(plane, 'pol-kept'))).statusCode,
    ).toBe(201);
    await expect(
      sql`delete from policy_versions where tenant_id = 'pol-gone'`.execute(plane.database.db),
    ).rejects.toThrow(/immutable/);
    await call(plane, 'DELETE', '/v1/tenants/pol-gone');
    const until = Date.now() + 20_000;
    for (;;) {
      await plane.controller.idle();
      if ((await call(plane, 'GET', '/v1/tenants/pol-gone')).json().status?.purgedAt) break;
      if (Date.now() > until) throw new Error('pol-gone was not purged');
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const table of ['policy_versions', 'policy_heads', 'policy_keys', 'policy_samples'] as const) {
      expect(
        await plane.database.db.selectFrom(table).select('tenant_id').where('tenant_id', '=', 'pol-gone').execute(),
        table,
      ).toEqual([]);
    }
    expect(
      (await call(plane, 'GET', '/v1/audit?tenant=pol-gone&action=tenant.purge')).json().items[0].details,
    ).toMatchObject({ policyVersions: 1 });
    // Other tenants' versions are still protected.
    await expect(
      sql`delete from policy_versions where tenant_id = 'pol-kept'`.execute(plane.database.db),
    ).rejects.toThrow(/immutable/);
  });
});
