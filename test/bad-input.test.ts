/**
 * Bad input on every engine: each gets the right 4xx problem+json with a stable code and
 * field paths, and changes nothing. A fast-check property throws random bodies and
 * manifests at the write endpoints and asserts no 5xx and no state change on refusal.
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, manifest } from './support/http.js';

/** A "billion laughs": seven nested anchors, each used nine times by the next. */
const LAUGHS = `${['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefg'.split('').map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n')}\n`;

describe.each(engines())('bad input on %s', (engine) => {
  let plane: TestPlane;
  const yaml = (method: 'POST', url: string, body: string) =>
    call(plane, method, url, body, { headers: { 'content-type': 'application/yaml' } });
  const state = async () => ({
    tenants: await countRows(plane, 'tenants'),
    audit: await countRows(plane, 'audit_log'),
    docs: await countRows(plane, 'tenant_documents'),
    keys: await countRows(plane, 'api_keys'),
  });

  beforeAll(async () => {
    plane = await startTestPlane(engine);
    await createActive(plane, 'existing');
  });
  afterAll(async () => {
    await plane?.stop();
  });

  const cases: Array<[string, () => Promise<any>, number, string, string[]?]> = [
    [
      'malformed JSON',
      () => call(plane, 'POST', '/v1/tenants', '{"apiVersion": ', { headers: { 'content-type': 'application/json' } }),
      400,
      'invalid_json',
    ],
    [
      'empty JSON body',
      () => call(plane, 'POST', '/v1/tenants', '', { headers: { 'content-type': 'application/json' } }),
      400,
      'invalid_json',
    ],
    [
      'wrong content type',
      () =>
        call(plane, 'POST', '/v1/tenants', 'id=acme', {
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      415,
      'unsupported_media_type',
    ],
    [
      'text/plain body',
      () => call(plane, 'POST', '/v1/tenants', 'hello', { headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    ],
    ['a JSON array', () => call(plane, 'POST', '/v1/tenants', []), 400, 'invalid_manifest', ['']],
    [
      'wrong types',
      () => call(plane, 'POST', '/v1/tenants', manifest('typed', { name: 7, quotas: { maxUsers: 'many' } })),
      400,
      'invalid_manifest',
      ['/spec/name', '/spec/quotas/maxUsers'],
    ],
    [
      'unknown fields',
      () => call(plane, 'POST', '/v1/tenants', { ...manifest('unknownf', { colour: 'red' }), status: {} }),
      400,
      'invalid_manifest',
      ['/spec/colour', '/status'],
    ],
    [
      'unknown enum values',
      () =>
        call(
          plane,
          'POST',
          '/v1/tenants',
          manifest('enums', { plan: 'platinum', profile: 'shared', config: { encryption: 'rot13' } }),
        ),
      400,
      'invalid_manifest',
      ['/spec/config/encryption', '/spec/plan', '/spec/profile'],
    ],
    [
      'negative and fractional quotas',
      () => call(plane, 'POST', '/v1/tenants', manifest('quota', { quotas: { maxUsers: -1, maxProjects: 1.5 } })),
      400,
      'invalid_manifest',
      ['/spec/quotas/maxProjects', '/spec/quotas/maxUsers'],
    ],
    [
      'bad email and compliance',
      () =>
        call(
          plane,
          'POST',
          '/v1/tenants',
          manifest('contact', { contact: { email: 'nope', compliance: ['HIPAA', 'MADEUP'] } }),
        ),
      400,
      'invalid_manifest',
      ['/spec/contact/compliance/1', '/spec/contact/email'],
    ],
    [
      'wrong apiVersion and kind',
      () => call(plane, 'POST', '/v1/tenants', { ...manifest('kinds'), apiVersion: 'v2', kind: 'Tenants' }),
      400,
      'invalid_manifest',
      ['/apiVersion', '/kind'],
    ],
    [
      'prototype pollution',
      () =>
        call(plane, 'POST', '/v1/tenants', '{"__proto__": {"admin": true}}', {
          headers: { 'content-type': 'application/json' },
        }),
      400,
      'invalid_json',
    ],
    [
      'oversized body',
      () => call(plane, 'POST', '/v1/tenants', manifest('huge', { name: 'x'.repeat(1024 * 1024 + 10) })),
      413,
      'payload_too_large',
    ],
    [
      'invalid YAML',
      () =>
        call(plane, 'POST', '/v1/tenants', 'spec: {name: [oops', { headers: { 'content-type': 'application/yaml' } }),
      400,
      'invalid_yaml',
    ],
    [
      'YAML with several documents',
      () =>
        call(plane, 'POST', '/v1/tenants', 'a: 1\n---\nb: 2\n', { headers: { 'content-type': 'application/yaml' } }),
      400,
      'invalid_manifest',
    ],
    [
      'YAML alias to no anchor',
      () => yaml('POST', '/v1/tenants', 'a: *undefined_alias\n'),
      400,
      'invalid_yaml',
      ['/a'],
    ],
    [
      'YAML merge of no anchor',
      () => yaml('POST', '/v1/tenants', 'spec:\n  <<: *nope\n'),
      400,
      'invalid_yaml',
      ['/spec/<<'],
    ],
    [
      'YAML alias inside its anchor',
      () => yaml('POST', '/v1/tenants', 'metadata: &m\n  labels: *m\n'),
      400,
      'invalid_yaml',
      ['/metadata/labels'],
    ],
    ['YAML alias bomb', () => yaml('POST', '/v1/tenants', LAUGHS), 400, 'invalid_yaml', ['']],
    [
      'YAML alias to no anchor in a bundle',
      () => yaml('POST', '/v1/apply', 'apiVersion: tenancy/v1\n---\nkind: *nope\n'),
      400,
      'invalid_yaml',
      ['/kind'],
    ],
    ['YAML alias bomb in a bundle', () => yaml('POST', '/v1/apply', LAUGHS), 400, 'invalid_yaml', ['']],
    [
      'YAML with too many aliases',
      () => yaml('POST', '/v1/apply', `x: &x 1\nl: [${Array(101).fill('*x').join(', ')}]\n`),
      400,
      'invalid_yaml',
      [''],
    ],
    [
      'YAML nested too deep',
      () => yaml('POST', '/v1/apply', '['.repeat(5000) + ']'.repeat(5000)),
      400,
      'invalid_yaml',
      [''],
    ],
    [
      'YAML nested too deep, again',
      () => yaml('POST', '/v1/tenants', `${'{a: '.repeat(2000)}1${'}'.repeat(2000)}`),
      400,
      'invalid_yaml',
      [''],
    ],
    [
      'YAML with more documents than a bundle holds',
      () => yaml('POST', '/v1/apply', '---\na: 1\n'.repeat(1001)),
      400,
      'invalid_yaml',
      [''],
    ],
    [
      'YAML policy with an alias to no anchor',
      () => yaml('POST', '/v1/tenants/existing/policies', 'name: p\n<<: *nope\n'),
      400,
      'invalid_yaml',
      ['/<<'],
    ],
    ['YAML policy alias bomb', () => yaml('POST', '/v1/tenants/existing/policies', LAUGHS), 400, 'invalid_yaml', ['']],
    [
      'missing auth',
      () => call(plane, 'POST', '/v1/tenants', manifest('noauth'), { token: null }),
      401,
      'unauthenticated',
    ],
    [
      'bad If-Match',
      () =>
        call(plane, 'PATCH', '/v1/tenants/existing', { spec: { name: 'x' } }, { headers: { 'if-match': 'W/"abc"' } }),
      400,
      'invalid_if_match',
    ],
    [
      'stale If-Match',
      () => call(plane, 'PATCH', '/v1/tenants/existing', { spec: { name: 'x' } }, { headers: { 'if-match': '"99"' } }),
      412,
      'precondition_failed',
    ],
    [
      'patch that is not an object',
      () =>
        call(plane, 'PATCH', '/v1/tenants/existing', '"spec"', {
          headers: { 'content-type': 'application/merge-patch+json' },
        }),
      400,
      'validation_failed',
      [''],
    ],
    [
      'patch with status',
      () => call(plane, 'PATCH', '/v1/tenants/existing', { status: { phase: 'active' } }),
      400,
      'validation_failed',
      ['/status'],
    ],
    [
      'suspend with unknown field',
      () => call(plane, 'POST', '/v1/tenants/existing/suspend', { reason: 'x', force: true }),
      400,
      'validation_failed',
      ['/force'],
    ],
    ['bundle with no items', () => call(plane, 'POST', '/v1/apply', { items: [] }), 400, 'invalid_bundle', ['/items']],
    [
      'bundle that is not a bundle',
      () => call(plane, 'POST', '/v1/apply', { manifests: [] }),
      400,
      'invalid_bundle',
      ['/items', '/manifests'],
    ],
    [
      'key with a platform role on a tenant',
      () => call(plane, 'POST', '/v1/tenants/existing/api-keys', { name: 'k', role: 'platform-admin' }),
      400,
      'validation_failed',
      ['/role'],
    ],
    [
      'key with an unknown field',
      () => call(plane, 'POST', '/v1/api-keys', { name: 'k', role: 'platform-auditor', scopes: ['*'] }),
      400,
      'validation_failed',
      ['/scopes'],
    ],
    ['bad key id', () => call(plane, 'DELETE', '/v1/api-keys/../../x'), 404, 'not_found'],
    ['malformed key id', () => call(plane, 'DELETE', '/v1/api-keys/NOT-A-KEY'), 400, 'invalid_key_id'],
    ['unknown route', () => call(plane, 'GET', '/v1/tenantz'), 404, 'not_found'],
    ['unknown method', () => call(plane, 'PUT', '/v1/tenants/existing', manifest('existing')), 404, 'not_found'],
    [
      'bad audit query',
      () => call(plane, 'GET', '/v1/audit?action=DROP%20TABLE'),
      400,
      'invalid_query',
      ['/query/action'],
    ],
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

  it.each([['Acme'], ['a_b'], ['../x'], ['a'.repeat(64)], [''], ['-ab'], ['ab-'], ['1abc'], ['ab c'], ['ab.c']])(
    'refuses the tenant id %j in a manifest and in a path',
    async (id) => {
      const before = await state();
      const p = expectProblem(await call(plane, 'POST', '/v1/tenants', manifest(id)), 400, 'invalid_manifest');
      expect(p.errors.map((e: any) => e.path)).toEqual(['/metadata/id']);
      if (id !== '') {
        const res = await call(plane, 'GET', `/v1/tenants/${encodeURIComponent(id)}`);
        expect([400, 404]).toContain(res.statusCode);
        if (res.statusCode === 400) expectProblem(res, 400, 'invalid_tenant_id');
      }
      expect(await state()).toEqual(before);
    },
  );

  it('answers random bodies and manifests with 4xx (never 5xx) and changes nothing when it refuses', async () => {
    const valid = manifest('prop-base');
    const specValue = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 12 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
    );
    const mutatedManifest = fc.record({
      id: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/), fc.string({ maxLength: 70 })),
      field: fc.constantFrom(
        'name',
        'plan',
        'profile',
        'region',
        'environments',
        'quotas',
        'features',
        'config',
        'contact',
        'billing',
        'bogus',
      ),
      value: specValue,
    });
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      mutatedManifest.map(({ id, field, value }) => ({
        ...valid,
        metadata: { id },
        spec: { ...(valid.spec as object), [field]: value },
      })),
      fc.string({ maxLength: 40 }),
    );
    const target = fc.constantFrom(
      'POST /v1/tenants',
      'POST /v1/apply',
      'PATCH /v1/tenants/existing',
      'POST /v1/tenants/existing/suspend',
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(target, body, fc.boolean(), async (t, b, asRaw) => {
        runs += 1;
        await plane.controller.idle();
        const [method, url] = t.split(' ') as ['POST' | 'PATCH', string];
        const payload =
          url === '/v1/apply' && !asRaw
            ? { dryRun: false, items: [{ manifest: b }] }
            : typeof b === 'string' && asRaw
              ? b
              : b;
        const before = await state();
        const res = await call(
          plane,
          method,
          url,
          payload === undefined ? 'null' : typeof payload === 'string' ? payload : payload,
          typeof payload === 'string' ? { headers: { 'content-type': 'application/json' } } : {},
        );
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

interface Sent {
  status: number | undefined;
  headers: IncomingHttpHeaders;
  body: string;
  /** Errors on the request or the response: a connection reset under the client, which may lose the answer. */
  errors: string[];
  /** Whether the server said 100 Continue (and so asked for the body). */
  continued: boolean;
  reusedSocket: boolean;
}

/** Send a request with node:http, writing `body` whole (after 100 Continue when `expect`), and read the answer. */
function send(
  url: string,
  o: {
    method: string;
    path: string;
    body: Buffer;
    contentType?: string;
    chunked?: boolean;
    expect?: boolean;
    token?: string;
    agent?: Agent;
  },
): Promise<Sent> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${o.token ?? ADMIN_TOKEN}`,
      'content-type': o.contentType ?? 'application/json',
    };
    if (!o.chunked) headers['content-length'] = String(o.body.length);
    if (o.expect) headers.expect = '100-continue';
    const out: Sent = { status: undefined, headers: {}, body: '', errors: [], continued: false, reusedSocket: false };
    const req = request({
      host: u.hostname,
      port: u.port,
      method: o.method,
      path: o.path,
      headers,
      agent: o.agent ?? false,
    });
    let answered = false;
    const finish = () => setTimeout(() => resolve(out), 50);
    req.on('error', (e: NodeJS.ErrnoException) => {
      // Destroying a request after its answer (no 100 came) is the client's own doing.
      if (!(answered && o.expect && !out.continued)) out.errors.push(`request ${e.code ?? e.message}`);
      finish();
    });
    req.on('continue', () => {
      out.continued = true;
      req.end(o.body);
    });
    req.on('response', (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      out.reusedSocket = req.reusedSocket;
      res.on('data', (c: Buffer) => (out.body += c.toString('utf8')));
      res.on('error', (e: NodeJS.ErrnoException) => out.errors.push(`response ${e.code ?? e.message}`));
      res.on('end', () => {
        answered = true;
        // With Expect and no 100, the body is never sent: the request ends here.
        if (o.expect && !out.continued) req.destroy();
      });
    });
    req.on('close', finish);
    if (!o.expect) req.end(o.body);
  });
}

/** Open a raw connection, write `head` and what `feed` writes, and collect what comes back until the server closes it. */
function raw(
  url: string,
  head: string,
  feed: (write: (s: string) => boolean) => void,
  giveUpMs: number,
): Promise<{ text: string; closedByServer: boolean }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(u.port), u.hostname);
    let text = '';
    let done = false;
    const end = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ text, closedByServer });
    };
    const giveUp = setTimeout(() => end(false), giveUpMs);
    socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
    socket.on('error', () => end(true));
    socket.on('close', () => end(true));
    socket.write(head);
    feed((s) => !done && socket.write(s));
  });
}

describe.each(engines())('slow requests on %s', (engine) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(engine, { listen: true, env: { TENANCY_REQUEST_TIMEOUT_SECONDS: '1' } });
  });
  afterAll(async () => {
    await plane?.stop();
  });

  const head = (length: number) =>
    `POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
  const problemOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));

  it('answers a body that stalls with 408 problem+json and closes the connection', async () => {
    const r = await raw(plane.url, head(1000), (write) => write('{"apiVersion"'), 15_000);
    expect(r.closedByServer).toBe(true);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.text).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(problemOf(r.text)).toMatchObject({
      status: 408,
      code: 'request_timeout',
      type: 'urn:tenancy:problem:request_timeout',
    });
  });

  it('cuts off a body trickled a byte at a time, however steadily it comes', async () => {
    let timer: NodeJS.Timeout | undefined;
    const r = await raw(
      plane.url,
      head(1000),
      (write) => {
        let sent = 0;
        timer = setInterval(() => {
          if (sent++ >= 60 || !write('x')) clearInterval(timer);
        }, 200);
      },
      15_000,
    );
    clearInterval(timer);
    expect(r.closedByServer).toBe(true);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe.each(engines())('oversized bodies on %s', (engine) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(engine, { listen: true });
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it.each([
    ['POST', '/v1/apply', 9 * 1024 * 1024, 'application/json'],
    ['PUT', '/v1/tenants/existing/objects/too-big.bin', 17 * 1024 * 1024, 'application/octet-stream'],
  ])(
    'answers %s %s with a readable 413 when the body is over the limit, by Content-Length or chunked',
    async (method, path, size, contentType) => {
      const body = Buffer.alloc(size, 0x20);
      for (const chunked of [false, true]) {
        const r = await send(plane.url, { method, path, body, contentType, chunked });
        expect({ chunked, status: r.status, errors: r.errors }).toEqual({ chunked, status: 413, errors: [] });
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(r.body)).toMatchObject({ status: 413, code: 'payload_too_large', instance: path });
      }
    },
  );

  it('keeps the connection after a 413, once the rest of the body is read and dropped', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = await send(plane.url, {
        method: 'POST',
        path: '/v1/apply',
        body: Buffer.alloc(9 * 1024 * 1024, 0x20),
        agent,
      });
      expect({ status: big.status, errors: big.errors }).toEqual({ status: 413, errors: [] });
      const next = await send(plane.url, {
        method: 'POST',
        path: '/v1/apply',
        body: Buffer.from('{"dryRun": true, "items": []}'),
        agent,
      });
      expect(next.reusedSocket).toBe(true);
      expect(JSON.parse(next.body)).toMatchObject({ code: 'invalid_bundle' });
    } finally {
      agent.destroy();
    }
  });

  it('answers Expect: 100-continue with 413 before the body when the declared length is over the limit', async () => {
    const over = [
      ['POST', '/v1/apply', 9 * 1024 * 1024, 'application/json'],
      ['PUT', '/v1/tenants/existing/objects/too-big.bin', 17 * 1024 * 1024, 'application/octet-stream'],
    ] as const;
    for (const [method, path, size, contentType] of over) {
      const r = await send(plane.url, { method, path, body: Buffer.alloc(size, 0x20), contentType, expect: true });
      expect({ path, status: r.status, continued: r.continued, errors: r.errors }).toEqual({
        path,
        status: 413,
        continued: false,
        errors: [],
      });
      expect(JSON.parse(r.body)).toMatchObject({ code: 'payload_too_large' });
    }
  });

  it('asks for the body (100 Continue) only from an authenticated caller whose body fits', async () => {
    const body = (id: string) => Buffer.from(JSON.stringify(manifest(id)));
    const refused = await send(plane.url, {
      method: 'POST',
      path: '/v1/tenants',
      body: body('expect-no'),
      expect: true,
      token: 'not-a-valid-token-at-all',
    });
    expect({ status: refused.status, continued: refused.continued }).toEqual({ status: 401, continued: false });
    const ok = await send(plane.url, { method: 'POST', path: '/v1/tenants', body: body('expect-yes'), expect: true });
    expect({ status: ok.status, continued: ok.continued, errors: ok.errors }).toEqual({
      status: 201,
      continued: true,
      errors: [],
    });
  });
});
