/**
 * Webhooks end to end against a real HTTP receiver on 127.0.0.1: Standard Webhooks
 * signatures checked with the `standardwebhooks` library and with node:crypto, order per
 * tenant, tenant isolation, retries on the schedule and Retry-After, dead deliveries and
 * manual redelivery, 410 disabling the endpoint, redirects not followed, timeouts, secret
 * rotation overlap, the SSRF guard at creation and delivery, secrets sealed at rest,
 * pending deliveries surviving a restart, and bad input.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startControlPlane } from '../src/control-plane.js';
import { ReceiverGuard, retryAfterMs } from '../src/governance/index.js';
import type { CloudEvent } from '../src/ledger/index.js';
import { LocalKeyRing, rootKeyFrom } from '../src/keys/index.js';
import {
  ADMIN_TOKEN,
  engines,
  freshPostgresDatabase,
  startTestPlane,
  type EngineName,
  type TestPlane,
} from './support/engines.js';
import { call, countRows, createActive, expectProblem, tenantKey } from './support/http.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}
type Reply = { status: number; headers?: Record<string, string>; delayMs?: number };

/** A receiver on 127.0.0.1 with an OS-picked port; `replies[path]` decides each answer (default 200). */
async function startReceiver(): Promise<{
  url: string;
  got: Received[];
  replies: Map<string, (n: number) => Reply>;
  server: Server;
  close: () => Promise<void>;
}> {
  const got: Received[] = [];
  const replies = new Map<string, (n: number) => Reply>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      got.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const n = got.filter((r) => r.path === path).length;
      const reply = replies.get(path)?.(n) ?? { status: 200 };
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(reply.status, reply.headers ?? {});
        res.end('ok');
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs).unref();
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    got,
    replies,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Verify a received request independently: the reference library, and HMAC-SHA256 by hand. */
function verify(r: Received, secret: string): CloudEvent {
  const headers = {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  };
  const event = new Webhook(secret).verify(r.body, headers) as CloudEvent;
  const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
    .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${r.body}`)
    .digest('base64');
  expect(headers['webhook-signature'].split(' ')).toContain(`v1,${expected}`);
  return event;
}

const SCHEDULE = '150ms,300ms,300ms';
const ENV = {
  TENANCY_WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
  TENANCY_WEBHOOK_RETRY_SCHEDULE: SCHEDULE,
  TENANCY_WEBHOOK_TIMEOUT_SECONDS: '0.5',
};
const FAST = { relayPollIntervalMs: 25, webhookPollIntervalMs: 25 };

describe.each(engines())('webhooks on %s', (engine: EngineName) => {
  let plane: TestPlane;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const at = (path: string) => receiver.got.filter((r) => r.path === path);
  const hook = async (body: Record<string, unknown>, token?: string) => {
    const res = await call(plane, 'POST', '/v1/webhooks', body, token ? { token } : {});
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { id: string; secret: string; tenantId: string | null; [k: string]: unknown };
  };
  const deliveries = async (id: string) =>
    (await call(plane, 'GET', `/v1/webhooks/${id}/deliveries?limit=500`)).json().items as any[];
  const touch = (tenant: string, name: string) => call(plane, 'PATCH', `/v1/tenants/${tenant}`, { spec: { name } });

  beforeAll(async () => {
    receiver = await startReceiver();
    plane = await startTestPlane(engine, { env: ENV, start: FAST });
    await createActive(plane, 'wh-a');
    await createActive(plane, 'wh-b');
  });
  afterAll(async () => {
    await plane?.stop();
    await receiver?.close();
  });

  it('delivers signed CloudEvents that verify, in order per tenant, and a tenant endpoint only its own tenant', async () => {
    const a = await hook({
      tenantId: 'wh-a',
      url: `${receiver.url}/a`,
      eventTypes: ['tenancy.tenant.*'],
      description: 'tenant a',
    });
    const p = await hook({ url: `${receiver.url}/p`, eventTypes: ['tenancy.tenant.updated'] });
    expect(a.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(a).toMatchObject({ tenantId: 'wh-a', enabled: true, eventTypes: ['tenancy.tenant.*'] });
    expect(p.tenantId).toBeNull();
    for (let i = 0; i < 4; i++) {
      await touch('wh-a', `a ${i}`);
      await touch('wh-b', `b ${i}`);
      // One reconcile per update: an update landing while the last one is still being
      // reconciled is carried out in the same pass (one tenant.reconciled for both).
      await plane.controller.idle();
    }
    await plane.controller.idle();
    await until('8 platform deliveries', () => (at('/p').length >= 8 ? true : undefined));
    // Each update is followed by the controller's tenant.reconciled: both match tenancy.tenant.*.
    await until('8 tenant deliveries', () => (at('/a').length >= 8 ? true : undefined));
    const forA = at('/a').map((r) => verify(r, a.secret));
    expect(new Set(forA.map((e) => e.subject))).toEqual(new Set(['wh-a']));
    expect(forA.filter((e) => e.type === 'tenancy.tenant.updated').map((e) => e.data.changed)).toEqual([
      ['/spec/name'],
      ['/spec/name'],
      ['/spec/name'],
      ['/spec/name'],
    ]);
    expect(forA.filter((e) => e.type === 'tenancy.tenant.reconciled')).toHaveLength(4);
    const seqs = forA.map((e) => Number(e.sequence));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    for (const r of at('/a')) {
      expect(r.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
      expect(r.headers['webhook-id']).toBe(JSON.parse(r.body).id);
      expect(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      // The tenant's secret does not verify the platform endpoint's deliveries, and the other way round.
      expect(() => new Webhook(p.secret).verify(r.body, r.headers as Record<string, string>)).toThrow();
    }
    const forP = at('/p').map((r) => verify(r, p.secret));
    expect(new Set(forP.map((e) => e.subject))).toEqual(new Set(['wh-a', 'wh-b']));
    expect(forP.every((e) => e.type === 'tenancy.tenant.updated')).toBe(true);
    const log = await until('every delivery logged', async () => {
      const l = await deliveries(a.id);
      return l.length === 8 && l.every((d) => d.status === 'succeeded') ? l : undefined;
    });
    expect(log[0]).toMatchObject({
      webhookId: a.id,
      tenantId: 'wh-a',
      status: 'succeeded',
      attempts: 1,
      lastStatusCode: 200,
      nextAttemptAt: null,
      eventType: 'tenancy.tenant.updated',
    });
    expect(log[0].attemptLog).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 200, outcome: 'succeeded', error: null, nextRetryAt: null }),
    ]);
    expect(log[0].attemptLog[0].durationMs).toBeGreaterThanOrEqual(0);
    const rows = await plane.database.db
      .selectFrom('webhook_deliveries')
      .select(['webhook_id', 'tenant_id'])
      .where('webhook_id', '=', a.id)
      .execute();
    expect(rows.every((r) => r.tenant_id === 'wh-a')).toBe(true);
  });

  it('keeps tenant credentials to their own endpoints: others are 404, platform ones invisible', async () => {
    const owner = await tenantKey(plane, 'wh-a', 'owner');
    const viewer = await tenantKey(plane, 'wh-a', 'viewer');
    const other = await hook({ tenantId: 'wh-b', url: `${receiver.url}/b-only`, eventTypes: ['tenancy.nothing.*'] });
    const platform = await hook({ url: `${receiver.url}/p-only`, eventTypes: ['tenancy.nothing.*'] });
    const mine = await hook({ url: `${receiver.url}/mine`, eventTypes: ['tenancy.nothing.*'] }, owner.token);
    expect(mine.tenantId).toBe('wh-a');
    const listed = (await call(plane, 'GET', '/v1/webhooks', undefined, { token: owner.token })).json().items;
    expect(new Set(listed.map((w: any) => w.tenantId))).toEqual(new Set(['wh-a']));
    expect(JSON.stringify(listed)).not.toContain('whsec_');
    for (const id of [other.id, platform.id]) {
      expectProblem(
        await call(plane, 'GET', `/v1/webhooks/${id}`, undefined, { token: owner.token }),
        404,
        'webhook_not_found',
      );
      expectProblem(
        await call(plane, 'PATCH', `/v1/webhooks/${id}`, { enabled: false }, { token: owner.token }),
        404,
        'webhook_not_found',
      );
      expectProblem(
        await call(plane, 'DELETE', `/v1/webhooks/${id}`, undefined, { token: owner.token }),
        404,
        'webhook_not_found',
      );
      expectProblem(
        await call(plane, 'POST', `/v1/webhooks/${id}/rotate-secret`, {}, { token: owner.token }),
        404,
        'webhook_not_found',
      );
      expectProblem(
        await call(plane, 'GET', `/v1/webhooks/${id}/deliveries`, undefined, { token: owner.token }),
        404,
        'webhook_not_found',
      );
    }
    expectProblem(
      await call(plane, 'GET', '/v1/webhooks/wh_000000000000000000000000', undefined, { token: owner.token }),
      404,
      'webhook_not_found',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/webhooks', { tenantId: 'wh-b', url: `${receiver.url}/x` }, { token: owner.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/webhooks?tenant=wh-b', undefined, { token: owner.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/webhooks', { url: `${receiver.url}/x` }, { token: viewer.token }),
      403,
      'forbidden',
    );
    expect((await call(plane, 'GET', `/v1/webhooks/${other.id}`)).json().url).toBe(`${receiver.url}/b-only`);
    const denied = (await call(plane, 'GET', '/v1/audit?tenant=wh-a&limit=1000'))
      .json()
      .items.filter((r: any) => r.outcome === 'denied' && r.target === `webhook/${other.id}`);
    expect(denied.length).toBeGreaterThanOrEqual(5);
    const platformOnly = (await call(plane, 'GET', '/v1/webhooks?scope=platform')).json().items;
    expect(platformOnly.every((w: any) => w.tenantId === null)).toBe(true);
    expect(platformOnly.map((w: any) => w.id)).toContain(platform.id);
  });

  it('retries on the schedule, waits at least Retry-After, and logs every attempt', async () => {
    receiver.replies.set('/retry', (n) =>
      n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : n === 2 ? { status: 500 } : { status: 204 },
    );
    const h = await hook({ tenantId: 'wh-a', url: `${receiver.url}/retry`, eventTypes: ['tenancy.tenant.updated'] });
    await touch('wh-a', 'retry me');
    await until('3 attempts', () => (at('/retry').length >= 3 ? true : undefined));
    const [first, second, third] = at('/retry') as [Received, Received, Received];
    expect(new Set([first, second, third].map((r) => r.headers['webhook-id'])).size).toBe(1);
    for (const r of [first, second, third]) verify(r, h.secret);
    expect(second.at - first.at).toBeGreaterThanOrEqual(950);
    expect(third.at - second.at).toBeLessThan(900);
    const [d] = await until('the delivery succeeded', async () => {
      const l = await deliveries(h.id);
      return l[0]?.status === 'succeeded' ? l : undefined;
    });
    expect(d.attempts).toBe(3);
    expect(d.attemptLog.map((x: any) => [x.attempt, x.statusCode, x.outcome])).toEqual([
      [1, 503, 'failed'],
      [2, 500, 'failed'],
      [3, 204, 'succeeded'],
    ]);
    expect(
      new Date(d.attemptLog[0].nextRetryAt).getTime() - new Date(d.attemptLog[0].startedAt).getTime(),
    ).toBeGreaterThanOrEqual(1000);
    expect(d.attemptLog[1].error).toBe('the receiver answered 500');
  });

  it('gives up after the last step (dead), and redelivers by hand', async () => {
    let healthy = false;
    receiver.replies.set('/dead', () => ({ status: healthy ? 200 : 500 }));
    const h = await hook({ tenantId: 'wh-b', url: `${receiver.url}/dead`, eventTypes: ['tenancy.tenant.updated'] });
    await touch('wh-b', 'doomed');
    const [d] = await until('dead', async () => {
      const l = await deliveries(h.id);
      return l[0]?.status === 'dead' ? l : undefined;
    });
    expect(d.attempts).toBe(4);
    expect(d.nextAttemptAt).toBeNull();
    expect(d.attemptLog.at(-1)).toMatchObject({ attempt: 4, nextRetryAt: null, statusCode: 500 });
    await new Promise((r) => setTimeout(r, 400));
    expect(at('/dead')).toHaveLength(4);
    healthy = true;
    const res = await call(plane, 'POST', `/v1/webhooks/${h.id}/deliveries/${d.id}/redeliver`, {});
    expect(res.statusCode, res.body).toBe(202);
    await until('redelivered', async () => ((await deliveries(h.id))[0]?.status === 'succeeded' ? true : undefined));
    expect(at('/dead')).toHaveLength(5);
    expect((await call(plane, 'GET', `/v1/audit?action=webhook.redeliver`)).json().items).toEqual([
      expect.objectContaining({
        target: `webhook/${h.id}/delivery/${d.id}`,
        tenantId: 'wh-b',
        details: { eventId: d.eventId, previousStatus: 'dead' },
      }),
    ]);
    expectProblem(
      await call(plane, 'POST', `/v1/webhooks/${h.id}/deliveries/01900000-0000-7000-8000-000000000000/redeliver`, {}),
      404,
      'delivery_not_found',
    );
  });

  it('disables an endpoint that answers 410 Gone, audited, and sends it nothing more', async () => {
    receiver.replies.set('/gone', () => ({ status: 410 }));
    const h = await hook({ tenantId: 'wh-a', url: `${receiver.url}/gone`, eventTypes: ['tenancy.tenant.updated'] });
    await touch('wh-a', 'gone 1');
    const disabled = await until('disabled', async () => {
      const w = (await call(plane, 'GET', `/v1/webhooks/${h.id}`)).json();
      return w.enabled === false ? w : undefined;
    });
    expect(disabled.disabledReason).toContain('410');
    expect((await deliveries(h.id))[0]).toMatchObject({ status: 'failed', attempts: 1, lastStatusCode: 410 });
    await touch('wh-a', 'gone 2');
    await plane.relay.drain();
    await new Promise((r) => setTimeout(r, 200));
    expect(at('/gone')).toHaveLength(1);
    expect(await deliveries(h.id)).toHaveLength(1);
    expect((await call(plane, 'GET', `/v1/audit?action=webhook.disable`)).json().items).toEqual([
      expect.objectContaining({ actor: 'system:webhooks', target: `webhook/${h.id}`, tenantId: 'wh-a' }),
    ]);
    expect((await call(plane, 'GET', '/v1/events?type=tenancy.webhook.disabled')).json().items).toEqual([
      expect.objectContaining({ subject: 'wh-a', data: { id: h.id, reason: 'gone' } }),
    ]);
    expectProblem(
      await call(plane, 'POST', `/v1/webhooks/${h.id}/deliveries/${(await deliveries(h.id))[0].id}/redeliver`, {}),
      409,
      'webhook_disabled',
    );
    const enabled = (await call(plane, 'PATCH', `/v1/webhooks/${h.id}`, { enabled: true })).json();
    expect(enabled).toMatchObject({ enabled: true, disabledReason: null });
  });

  it('does not follow redirects (3xx is a failure) and times out a slow receiver', async () => {
    receiver.replies.set('/redirect', () => ({ status: 302, headers: { location: `${receiver.url}/target` } }));
    receiver.replies.set('/slow', () => ({ status: 200, delayMs: 3_000 }));
    const r = await hook({ tenantId: 'wh-b', url: `${receiver.url}/redirect`, eventTypes: ['tenancy.tenant.updated'] });
    const s = await hook({ tenantId: 'wh-b', url: `${receiver.url}/slow`, eventTypes: ['tenancy.tenant.updated'] });
    await touch('wh-b', 'redirect and slow');
    const red = await until('a failed redirect attempt', async () => (await deliveries(r.id))[0]?.attemptLog[0]);
    expect(red).toMatchObject({ statusCode: 302, outcome: 'failed' });
    expect(red.error).toContain('redirects are not followed');
    const slow = await until('a timed-out attempt', async () => (await deliveries(s.id))[0]?.attemptLog[0]);
    expect(slow).toMatchObject({ statusCode: null, outcome: 'failed', error: 'timed out after 500 ms' });
    expect(slow.durationMs).toBeGreaterThanOrEqual(450);
    expect(slow.durationMs).toBeLessThan(2_000);
    expect(at('/target')).toEqual([]);
    await call(plane, 'DELETE', `/v1/webhooks/${r.id}`);
    await call(plane, 'DELETE', `/v1/webhooks/${s.id}`);
  });

  it('signs with both secrets during a rotation overlap, and with the new one only afterwards', async () => {
    const h = await hook({ tenantId: 'wh-a', url: `${receiver.url}/rotate`, eventTypes: ['tenancy.tenant.updated'] });
    const rotated = await call(plane, 'POST', `/v1/webhooks/${h.id}/rotate-secret`, {});
    expect(rotated.statusCode, rotated.body).toBe(200);
    const next = rotated.json();
    expect(next.secret).not.toBe(h.secret);
    expect(new Date(next.previousSecretExpiresAt).getTime() - Date.now()).toBeGreaterThan(86_000_000);
    await touch('wh-a', 'overlap');
    const during = await until('a delivery', () => at('/rotate')[0]);
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    verify(during, next.secret);
    verify(during, h.secret);
    const again = (await call(plane, 'POST', `/v1/webhooks/${h.id}/rotate-secret`, { overlapSeconds: 0 })).json();
    expect(again.previousSecretExpiresAt).toBeNull();
    await touch('wh-a', 'after');
    const after = await until('a second delivery', () => at('/rotate')[1]);
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    verify(after, again.secret);
    expect(() => new Webhook(next.secret).verify(after.body, after.headers as Record<string, string>)).toThrow();
    expect(
      (await call(plane, 'GET', `/v1/audit?action=webhook.rotate_secret`))
        .json()
        .items.filter((x: any) => x.target === `webhook/${h.id}`),
    ).toHaveLength(2);
  });

  it('stores secrets sealed (tenant key ring, platform key) and keeps platform ones across root rotation', async () => {
    const t = await hook({ tenantId: 'wh-b', url: `${receiver.url}/sealed-t`, eventTypes: ['tenancy.nothing.*'] });
    const p = await hook({ url: `${receiver.url}/sealed-p`, eventTypes: ['tenancy.nothing.*'] });
    const rows = await plane.database.db
      .selectFrom('webhooks')
      .select(['id', 'secret_ciphertext'])
      .where('id', 'in', [t.id, p.id])
      .execute();
    expect(JSON.stringify(rows)).not.toContain(t.secret.slice(6, 30));
    expect(JSON.stringify(rows)).not.toContain(p.secret.slice(6, 30));
    const ct = rows.find((r) => r.id === t.id)!.secret_ciphertext;
    const cp = rows.find((r) => r.id === p.id)!.secret_ciphertext;
    expect((await plane.keyRing.decrypt('wh-b', 'webhook', ct)).toString()).toBe(t.secret);
    await expect(plane.keyRing.decrypt('wh-a', 'webhook', ct)).rejects.toMatchObject({ code: 'decryption_failed' });
    expect((await call(plane, 'POST', '/v1/root-key/rotate', {})).statusCode).toBe(200);
    const newRoot = rootKeyFrom(
      Buffer.from((await readFile(join(plane.dataDir, 'root.key'), 'utf8')).trim(), 'base64'),
    );
    const fresh = await LocalKeyRing.open(plane.database.db, newRoot);
    expect((await fresh.decryptPlatform('webhook', cp)).toString()).toBe(p.secret);
    expect((await call(plane, 'GET', `/v1/audit?action=webhook.create`)).json().items.length).toBeGreaterThan(3);
  });

  it('refuses a receiver that is no longer allowed at delivery time', async () => {
    const h = await hook({ tenantId: 'wh-a', url: `${receiver.url}/moved`, eventTypes: ['tenancy.tenant.updated'] });
    // As if the receiver had been allowed when created and the rule changed since.
    await plane.database.db
      .updateTable('webhooks')
      .set({ url: `${receiver.url.replace('127.0.0.1', '127.0.0.2')}/moved` })
      .where('id', '=', h.id)
      .execute();
    await touch('wh-a', 'moved');
    const attempt = await until('a refused attempt', async () => (await deliveries(h.id))[0]?.attemptLog[0]);
    expect(attempt.error).toContain('webhook_url_forbidden');
    expect(at('/moved')).toEqual([]);
    await call(plane, 'DELETE', `/v1/webhooks/${h.id}`);
  });

  const bad: Array<[string, () => Record<string, unknown> | string, number, string, string[]?]> = [
    ['no url', () => ({ eventTypes: ['*'] }), 400, 'validation_failed', ['/url']],
    ['a relative url', () => ({ url: '/hook' }), 400, 'validation_failed', ['/url']],
    ['an ftp url', () => ({ url: 'ftp://127.0.0.1/x' }), 400, 'validation_failed', ['/url']],
    ['credentials in the url', () => ({ url: 'http://user:pw@127.0.0.1/x' }), 400, 'validation_failed', ['/url']],
    [
      'bad event types',
      () => ({ url: 'http://127.0.0.1/x', eventTypes: ['tenant.created', 'tenancy.*.x', ''] }),
      400,
      'validation_failed',
      ['/eventTypes/0', '/eventTypes/1', '/eventTypes/2'],
    ],
    [
      'no event types',
      () => ({ url: 'http://127.0.0.1/x', eventTypes: [] }),
      400,
      'validation_failed',
      ['/eventTypes'],
    ],
    [
      'unknown fields',
      () => ({ url: 'http://127.0.0.1/x', secret: 'whsec_mine' }),
      400,
      'validation_failed',
      ['/secret'],
    ],
    [
      'wrong types',
      () => ({ url: 'http://127.0.0.1/x', enabled: 'yes', description: 7 }),
      400,
      'validation_failed',
      ['/description', '/enabled'],
    ],
    [
      'a bad tenant id',
      () => ({ url: 'http://127.0.0.1/x', tenantId: 'Not_Valid' }),
      400,
      'validation_failed',
      ['/tenantId'],
    ],
    ['an unknown tenant', () => ({ url: 'http://127.0.0.1/x', tenantId: 'nobody-here' }), 404, 'tenant_not_found'],
    ['malformed JSON', () => '{"url": ', 400, 'invalid_json'],
  ];
  it.each(bad)('refuses a webhook with %s and changes nothing', async (_name, body, status, code, paths) => {
    const before = {
      hooks: await plane.database.db.selectFrom('webhooks').select('id').execute(),
      audit: await countRows(plane, 'audit_log'),
    };
    const b = body();
    const res = await call(
      plane,
      'POST',
      '/v1/webhooks',
      b,
      typeof b === 'string' ? { headers: { 'content-type': 'application/json' } } : {},
    );
    const problem = expectProblem(res, status, code);
    if (paths) expect(problem.errors.map((e: any) => e.path).sort()).toEqual(paths);
    expect({
      hooks: await plane.database.db.selectFrom('webhooks').select('id').execute(),
      audit: await countRows(plane, 'audit_log'),
    }).toEqual(before);
  });

  it('refuses bad ids, patches and queries with stable codes', async () => {
    const h = await hook({ url: `${receiver.url}/bad`, eventTypes: ['tenancy.nothing.*'] });
    expectProblem(await call(plane, 'GET', '/v1/webhooks/not-an-id'), 400, 'invalid_webhook_id');
    expectProblem(
      await call(plane, 'POST', `/v1/webhooks/${h.id}/deliveries/xyz/redeliver`, {}),
      400,
      'invalid_delivery_id',
    );
    expect(
      expectProblem(
        await call(plane, 'PATCH', `/v1/webhooks/${h.id}`, { url: 'nope', colour: 1 }),
        400,
        'validation_failed',
      )
        .errors.map((e: any) => e.path)
        .sort(),
    ).toEqual(['/colour', '/url']);
    expectProblem(
      await call(plane, 'POST', `/v1/webhooks/${h.id}/rotate-secret`, { overlapSeconds: -1 }),
      400,
      'validation_failed',
    );
    expectProblem(await call(plane, 'GET', `/v1/webhooks/${h.id}/deliveries?status=lost`), 400, 'invalid_query');
    expectProblem(await call(plane, 'GET', '/v1/webhooks?limit=0'), 400, 'invalid_query');
    expectProblem(
      await call(plane, 'PATCH', `/v1/webhooks/${h.id}`, { url: 'http://10.1.2.3/x' }),
      422,
      'webhook_url_forbidden',
    );
    expect((await call(plane, 'GET', `/v1/webhooks/${h.id}`)).json().url).toBe(`${receiver.url}/bad`);
  });
});

describe.each(engines())('webhook receivers on %s without an allowance', (engine: EngineName) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(engine);
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it.each([
    'http://127.0.0.1:8080/hook',
    'http://0x7f.1/hook',
    'http://localhost/hook',
    'http://10.0.0.1/hook',
    'http://172.16.5.4/hook',
    'http://192.168.1.1/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://100.64.0.1/hook',
    'http://0.0.0.0/hook',
    'http://[::1]/hook',
    'http://[::]/hook',
    'http://[fe80::1]/hook',
    'http://[fd00::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[::ffff:10.0.0.1]/hook',
    'http://[::127.0.0.1]/hook',
    'http://[::7f00:1]/hook',
    'http://[::a9fe:a9fe]/latest/meta-data',
    'http://[::8.8.8.8]/hook',
    'http://[64:ff9b::7f00:1]/hook',
    'http://[64:ff9b:1::a00:1]/hook',
    'http://[::ffff:0:7f00:1]/hook',
    'http://[2002:7f00:1::]/hook',
    'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook',
  ])('refuses %s with 422 webhook_url_forbidden and stores nothing', async (url) => {
    const audit = await countRows(plane, 'audit_log');
    const p = expectProblem(await call(plane, 'POST', '/v1/webhooks', { url }), 422, 'webhook_url_forbidden');
    expect(p.errors.map((e: any) => e.path)).toEqual(['/url']);
    expect(await plane.database.db.selectFrom('webhooks').select('id').execute()).toEqual([]);
    expect(await countRows(plane, 'audit_log')).toBe(audit);
  });
});

describe('receiver guard', () => {
  it('allows public unicast, judges IPv4-mapped IPv6 as IPv4, and honours the allowances', () => {
    const strict = new ReceiverGuard({ allowPrivate: false, allowedCidrs: [] });
    for (const a of ['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect(strict.refusal(a), a).toBeUndefined();
    for (const a of [
      '127.0.0.1',
      '10.1.1.1',
      '169.254.1.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fc00::1',
      '::ffff:192.168.0.1',
      '224.0.0.1',
      '255.255.255.255',
      '100.64.1.1',
    ])
      expect(strict.refusal(a), a).toBeDefined();
    const listed = new ReceiverGuard({ allowPrivate: false, allowedCidrs: ['10.20.0.0/16', 'fd00::/8'] });
    expect(listed.refusal('10.20.3.4')).toBeUndefined();
    expect(listed.refusal('::ffff:10.20.3.4')).toBeUndefined();
    expect(listed.refusal('fd12::1')).toBeUndefined();
    expect(listed.refusal('10.21.0.1')).toBeDefined();
    expect(new ReceiverGuard({ allowPrivate: true, allowedCidrs: [] }).refusal('127.0.0.1')).toBeUndefined();
  });

  it('refuses at connect time a name that resolves to a forbidden address (DNS rebinding)', async () => {
    const strict = new ReceiverGuard({ allowPrivate: false, allowedCidrs: [] });
    const err = await new Promise<unknown>((resolve) => strict.lookup('localhost', { all: true }, (e) => resolve(e)));
    expect(err).toMatchObject({ code: 'webhook_url_forbidden' });
    const open = new ReceiverGuard({ allowPrivate: true, allowedCidrs: [] });
    const ok = await new Promise<unknown>((resolve) =>
      open.lookup('localhost', {}, (e, address) => resolve(e ?? address)),
    );
    expect(ok).toMatch(/^(127\.0\.0\.1|::1)$/);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('120')).toBe(120_000);
    expect(retryAfterMs(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(55_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});

describe.each(engines())('webhook deliveries across a restart on %s', (engine: EngineName) => {
  it('keeps a delivery that was in flight at close() pending, and sends it after the restart', async () => {
    const receiver = await startReceiver();
    const dataDir = await mkdtemp(join(tmpdir(), 'tenancy-wh-'));
    const database = engine === 'postgres' ? await freshPostgresDatabase() : undefined;
    const open = async () => {
      const config = loadConfig(
        { port: '0', host: '127.0.0.1', dataDir },
        {
          TENANCY_ADMIN_TOKEN: ADMIN_TOKEN,
          TENANCY_LOG_LEVEL: 'silent',
          ...ENV,
          TENANCY_WEBHOOK_TIMEOUT_SECONDS: '30',
          ...(database ? { TENANCY_DATABASE_URL: database.url } : {}),
        },
      );
      const plane = await startControlPlane(config, { listen: false, controllerResyncMs: 60_000, ...FAST });
      return Object.assign(plane, { dataDir, databaseUrl: database?.url, stop: () => plane.close() }) as TestPlane;
    };
    try {
      let hang = true;
      receiver.replies.set('/restart', () => (hang ? { status: 200, delayMs: 60_000 } : { status: 200 }));
      const first = await open();
      await createActive(first, 'wh-restart');
      const h = (
        await call(first, 'POST', '/v1/webhooks', {
          tenantId: 'wh-restart',
          url: `${receiver.url}/restart`,
          eventTypes: ['tenancy.tenant.updated'],
        })
      ).json();
      await call(first, 'PATCH', '/v1/tenants/wh-restart', { spec: { name: 'in flight' } });
      const inFlight = await until('the delivery in flight', () => receiver.got.find((r) => r.path === '/restart'));
      await first.close();
      hang = false;
      const second = await open();
      try {
        const row = await second.database.db
          .selectFrom('webhook_deliveries')
          .selectAll()
          .where('webhook_id', '=', h.id)
          .executeTakeFirstOrThrow();
        expect(['pending', 'succeeded']).toContain(row.status);
        await until('delivered again', () =>
          receiver.got.filter((r) => r.path === '/restart').length >= 2 ? true : undefined,
        );
        const again = receiver.got.filter((r) => r.path === '/restart')[1]!;
        expect(again.headers['webhook-id']).toBe(inFlight.headers['webhook-id']);
        verify(again, h.secret);
        const d = await until('succeeded', async () => {
          const r = await second.database.db
            .selectFrom('webhook_deliveries')
            .selectAll()
            .where('webhook_id', '=', h.id)
            .executeTakeFirstOrThrow();
          return r.status === 'succeeded' ? r : undefined;
        });
        // The attempt cut short by close() was handed back uncounted.
        expect(d.attempts).toBe(1);
      } finally {
        await second.close();
      }
    } finally {
      await receiver.close();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
