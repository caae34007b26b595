/**
 * Bad input on every engine: each gets the right 4xx problem+json with a stable code and
 * field paths, and changes nothing. A fast-check property throws random bodies and
 * manifests at the write endpoints and asserts no 5xx and no state change on refusal.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, manifest } from './support/http.js';

/** A "billion laughs": seven nested anchors, each used nine times by the next. */
const LAUGHS = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefg'.split('').map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n') + '\n';

describe.each(engines())('bad input on %s', (engine) => {
  let plane: TestPlane;
  const yaml = (method: 'POST', url: string, body: string) => call(plane, method, url, body, { headers: { 'content-type': 'application/yaml' } });
  const state = async () => ({ tenants: await countRows(plane, 'tenants'), audit: await countRows(plane, 'audit_log'), docs: await countRows(plane, 'tenant_documents'), keys: await countRows(plane, 'api_keys') });

  beforeAll(async () => {
    plane = await startTestPlane(engine);
    await createActive(plane, 'existing');
  });
  afterAll(async () => {
    await plane?.stop();
  });

  const cases: Array<[string, () => Promise<any>, number, string, string[]?]> = [
    ['malformed JSON', () => call(plane, 'POST', '/v1/tenants', '{"apiVersion": ', { headers: { 'content-type': 'application/json' } }), 400, 'invalid_json'],
    ['empty JSON body', () => call(plane, 'POST', '/v1/tenants', '', { headers: { 'content-type': 'application/json' } }), 400, 'invalid_json'],
    ['wrong content type', () => call(plane, 'POST', '/v1/tenants', 'id=acme', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type'],
    ['text/plain body', () => call(plane, 'POST', '/v1/tenants', 'hello', { headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type'],
    ['a JSON array', () => call(plane, 'POST', '/v1/tenants', []), 400, 'invalid_manifest', ['']],
    ['wrong types', () => call(plane, 'POST', '/v1/tenants', manifest('typed', { name: 7, quotas: { maxUsers: 'many' } })), 400, 'invalid_manifest', ['/spec/name', '/spec/quotas/maxUsers']],
    ['unknown fields', () => call(plane, 'POST', '/v1/tenants', { ...manifest('unknownf', { colour: 'red' }), status: {} }), 400, 'invalid_manifest', ['/spec/colour', '/status']],
    ['unknown enum values', () => call(plane, 'POST', '/v1/tenants', manifest('enums', { plan: 'platinum', profile: 'shared', config: { encryption: 'rot13' } })), 400, 'invalid_manifest', ['/spec/config/encryption', '/spec/plan', '/spec/profile']],
    ['negative and fractional quotas', () => call(plane, 'POST', '/v1/tenants', manifest('quota', { quotas: { maxUsers: -1, maxProjects: 1.5 } })), 400, 'invalid_manifest', ['/spec/quotas/maxProjects', '/spec/quotas/maxUsers']],
    ['bad email and compliance', () => call(plane, 'POST', '/v1/tenants', manifest('contact', { contact: { email: 'nope', compliance: ['HIPAA', 'MADEUP'] } })), 400, 'invalid_manifest', ['/spec/contact/compliance/1', '/spec/contact/email']],
    ['wrong apiVersion and kind', () => call(plane, 'POST', '/v1/tenants', { ...manifest('kinds'), apiVersion: 'v2', kind: 'Tenants' }), 400, 'invalid_manifest', ['/apiVersion', '/kind']],
    ['prototype pollution', () => call(plane, 'POST', '/v1/tenants', '{"__proto__": {"admin": true}}', { headers: { 'content-type': 'application/json' } }), 400, 'invalid_json'],
    ['oversized body', () => call(plane, 'POST', '/v1/tenants', manifest('huge', { name: 'x'.repeat(1024 * 1024 + 10) })), 413, 'payload_too_large'],
    ['invalid YAML', () => call(plane, 'POST', '/v1/tenants', 'spec: {name: [oops', { headers: { 'content-type': 'application/yaml' } }), 400, 'invalid_yaml'],
    ['YAML with several documents', () => call(plane, 'POST', '/v1/tenants', 'a: 1\n---\nb: 2\n', { headers: { 'content-type': 'application/yaml' } }), 400, 'invalid_manifest'],
    ['YAML alias to no anchor', () => yaml('POST', '/v1/tenants', 'a: *undefined_alias\n'), 400, 'invalid_yaml', ['/a']],
    ['YAML merge of no anchor', () => yaml('POST', '/v1/tenants', 'spec:\n  <<: *nope\n'), 400, 'invalid_yaml', ['/spec/<<']],
    ['YAML alias inside its anchor', () => yaml('POST', '/v1/tenants', 'metadata: &m\n  labels: *m\n'), 400, 'invalid_yaml', ['/metadata/labels']],
    ['YAML alias bomb', () => yaml('POST', '/v1/tenants', LAUGHS), 400, 'invalid_yaml', ['']],
    ['YAML alias to no anchor in a bundle', () => yaml('POST', '/v1/apply', 'apiVersion: tenancy/v1\n---\nkind: *nope\n'), 400, 'invalid_yaml', ['/kind']],
    ['YAML alias bomb in a bundle', () => yaml('POST', '/v1/apply', LAUGHS), 400, 'invalid_yaml', ['']],
    ['YAML with too many aliases', () => yaml('POST', '/v1/apply', `x: &x 1\nl: [${Array(101).fill('*x').join(', ')}]\n`), 400, 'invalid_yaml', ['']],
    ['YAML nested too deep', () => yaml('POST', '/v1/apply', '['.repeat(5000) + ']'.repeat(5000)), 400, 'invalid_yaml', ['']],
    ['YAML nested too deep, again', () => yaml('POST', '/v1/tenants', '{a: '.repeat(2000) + '1' + '}'.repeat(2000)), 400, 'invalid_yaml', ['']],
    ['YAML with more documents than a bundle holds', () => yaml('POST', '/v1/apply', '---\na: 1\n'.repeat(1001)), 400, 'invalid_yaml', ['']],
    ['YAML policy with an alias to no anchor', () => yaml('POST', '/v1/tenants/existing/policies', 'name: p\n<<: *nope\n'), 400, 'invalid_yaml', ['/<<']],
    ['YAML policy alias bomb', () => yaml('POST', '/v1/tenants/existing/policies', LAUGHS), 400, 'invalid_yaml', ['']],
    ['missing auth', () => call(plane, 'POST', '/v1/tenants', manifest('noauth'), { token: null }), 401, 'unauthenticated'],
    ['bad If-Match', () => call(plane, 'PATCH', '/v1/tenants/existing', { spec: { name: 'x' } }, { headers: { 'if-match': 'W/"abc"' } }), 400, 'invalid_if_match'],
    ['stale If-Match', () => call(plane, 'PATCH', '/v1/tenants/existing', { spec: { name: 'x' } }, { headers: { 'if-match': '"99"' } }), 412, 'precondition_failed'],
    ['patch that is not an object', () => call(plane, 'PATCH', '/v1/tenants/existing', '"spec"', { headers: { 'content-type': 'application/merge-patch+json' } }), 400, 'validation_failed', ['']],
    ['patch with status', () => call(plane, 'PATCH', '/v1/tenants/existing', { status: { phase: 'active' } }), 400, 'validation_failed', ['/status']],
    ['suspend with unknown field', () => call(plane, 'POST', '/v1/tenants/existing/suspend', { reason: 'x', force: true }), 400, 'validation_failed', ['/force']],
    ['bundle with no items', () => call(plane, 'POST', '/v1/apply', { items: [] }), 400, 'invalid_bundle', ['/items']],
    ['bundle that is not a bundle', () => call(plane, 'POST', '/v1/apply', { manifests: [] }), 400, 'invalid_bundle', ['/items', '/manifests']],
    ['key with a platform role on a tenant', () => call(plane, 'POST', '/v1/tenants/existing/api-keys', { name: 'k', role: 'platform-admin' }), 400, 'validation_failed', ['/role']],
    ['key with an unknown field', () => call(plane, 'POST', '/v1/api-keys', { name: 'k', role: 'platform-auditor', scopes: ['*'] }), 400, 'validation_failed', ['/scopes']],
    ['bad key id', () => call(plane, 'DELETE', '/v1/api-keys/../../x'), 404, 'not_found'],
    ['malformed key id', () => call(plane, 'DELETE', '/v1/api-keys/NOT-A-KEY'), 400, 'invalid_key_id'],
    ['unknown route', () => call(plane, 'GET', '/v1/tenantz'), 404, 'not_found'],
    ['unknown method', () => call(plane, 'PUT', '/v1/tenants/existing', manifest('existing')), 404, 'not_found'],
    ['bad audit query', () => call(plane, 'GET', '/v1/audit?action=DROP%20TABLE'), 400, 'invalid_query', ['/query/action']],
  ];

  it.each(cases)('%s', async (_name, run, status, code, paths) => {
    const before = await state();
    const res = await run();
    const problem = expectProblem(res, status, code);
    if (paths) expect(problem.errors.map((e: any) => e.path).sort()).toEqual(paths);
    const after = await state();
    // A refused credential writes exactly one record: the denial.
    expect(after).toEqual(status === 401 ? { ...before, audit: before.audit + 1 } : before);
  });

  it.each([['Acme'], ['a_b'], ['../x'], ['a'.repeat(64)], [''], ['-ab'], ['ab-'], ['1abc'], ['ab c'], ['ab.c']])('refuses the tenant id %j in a manifest and in a path', async (id) => {
    const before = await state();
    const p = expectProblem(await call(plane, 'POST', '/v1/tenants', manifest(id)), 400, 'invalid_manifest');
    expect(p.errors.map((e: any) => e.path)).toEqual(['/metadata/id']);
    if (id !== '') {
      const res = await call(plane, 'GET', `/v1/tenants/${encodeURIComponent(id)}`);
      expect([400, 404]).toContain(res.statusCode);
      if (res.statusCode === 400) expectProblem(res, 400, 'invalid_tenant_id');
    }
    expect(await state()).toEqual(before);
  });

  it('answers random bodies and manifests with 4xx (never 5xx) and changes nothing when it refuses', async () => {
    const valid = manifest('prop-base');
    const specValue = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }));
    const mutatedManifest = fc.record({
      id: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/), fc.string({ maxLength: 70 })),
      field: fc.constantFrom('name', 'plan', 'profile', 'region', 'environments', 'quotas', 'features', 'config', 'contact', 'billing', 'bogus'),
      value: specValue,
    });
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      mutatedManifest.map(({ id, field, value }) => ({ ...valid, metadata: { id }, spec: { ...(valid.spec as object), [field]: value } })),
      fc.string({ maxLength: 40 }),
    );
    const target = fc.constantFrom('POST /v1/tenants', 'POST /v1/apply', 'PATCH /v1/tenants/existing', 'POST /v1/tenants/existing/suspend');
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(target, body, fc.boolean(), async (t, b, asRaw) => {
        runs += 1;
        await plane.controller.idle();
        const [method, url] = t.split(' ') as ['POST' | 'PATCH', string];
        const payload = url === '/v1/apply' && !asRaw ? { dryRun: false, items: [{ manifest: b }] } : typeof b === 'string' && asRaw ? b : b;
        const before = await state();
        const res = await call(plane, method, url, payload === undefined ? 'null' : typeof payload === 'string' ? payload : payload, typeof payload === 'string' ? { headers: { 'content-type': 'application/json' } } : {});
        expect(res.statusCode, res.body).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          expect(typeof res.json().code).toBe('string');
          expect(await state()).toEqual(before);
        } else if (method === 'POST' && url === '/v1/tenants/existing/suspend') {
          await call(plane, 'POST', '/v1/tenants/existing/resume', {});
        }
      }),
      { numRuns: engine === 'pglite' ? 150 : 80, seed: Number(process.env.TENANCY_FC_SEED ?? Date.now() % 100000) },
    );
    expect(runs).toBeGreaterThan(50);
  }, 120_000);
});
