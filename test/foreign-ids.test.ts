/**
 * A tenant credential cannot tell another tenant's webhook or approval id (or a
 * platform-wide webhook's) from an id that does not exist: every route that takes such an
 * id answers both the same way, and does the same work for both, down to the audit record
 * of the denial (the tenant can read its own audit stream, so a record written for one
 * and not the other would tell them apart as surely as the time it takes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, tenantKey } from './support/http.js';

const UNKNOWN = { webhook: 'wh_000000000000000000000000', approval: 'apr_000000000000000000000000' };
const DELIVERY = '01890a5d-ac96-774b-bcce-b302099a8057';

describe.each(engines())('foreign ids on %s', (engine) => {
  let plane: TestPlane;
  let owner: { token: string; id: string };
  const foreign = { webhook: '', platformWebhook: '', approval: '' };

  beforeAll(async () => {
    plane = await startTestPlane(engine, { env: { TENANCY_WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32' } });
    await createActive(plane, 'fid-a');
    await createActive(plane, 'fid-b', { governance: { approvals: { require: ['featureEnable'] } } });
    owner = await tenantKey(plane, 'fid-a', 'owner');
    const hook = await call(plane, 'POST', '/v1/webhooks', {
      tenantId: 'fid-b',
      url: 'http://127.0.0.1:9/b',
      eventTypes: ['tenancy.nothing.*'],
    });
    expect(hook.statusCode, hook.body).toBe(201);
    foreign.webhook = hook.json().id;
    const platform = await call(plane, 'POST', '/v1/webhooks', {
      url: 'http://127.0.0.1:9/p',
      eventTypes: ['tenancy.nothing.*'],
    });
    expect(platform.statusCode, platform.body).toBe(201);
    foreign.platformWebhook = platform.json().id;
    const admin = await tenantKey(plane, 'fid-b', 'admin');
    const held = await call(
      plane,
      'PATCH',
      '/v1/tenants/fid-b',
      { spec: { features: { secret: true } } },
      { token: admin.token },
    );
    expect(held.statusCode, held.body).toBe(202);
    foreign.approval = held.json().approval.id;
  });
  afterAll(async () => {
    await plane?.stop();
  });

  /** Everything about an answer that does not name the id or the request. */
  const shape = (res: Awaited<ReturnType<typeof call>>, id: string) => {
    const body = JSON.parse(res.body.split(id).join(':id'));
    delete body.instance;
    delete body.correlationId;
    return { status: res.statusCode, contentType: res.headers['content-type'], body };
  };
  /** The audit records one request wrote, without what names the id, the request or the chain. */
  const recordsOf = async (run: () => Promise<Awaited<ReturnType<typeof call>>>, id: string) => {
    const last = Number(
      (
        await plane.database.db
          .selectFrom('audit_log')
          .select((eb) => eb.fn.max('seq').as('m'))
          .executeTakeFirstOrThrow()
      ).m ?? 0,
    );
    const res = await run();
    const written = await plane.audit.list({ afterSeq: last, limit: 1000 });
    const records = written.map(({ seq: _s, id: _i, ts: _t, correlationId: _c, prevHash: _p, hash: _h, ...rest }) =>
      JSON.parse(JSON.stringify(rest).split(id).join(':id')),
    );
    return { res, records };
  };

  const routes: Array<
    [string, 'GET' | 'POST' | 'PATCH' | 'DELETE', (id: string) => string, unknown, 'webhook' | 'approval']
  > = [
    ['read a webhook', 'GET', (id) => `/v1/webhooks/${id}`, undefined, 'webhook'],
    ['change a webhook', 'PATCH', (id) => `/v1/webhooks/${id}`, { enabled: false }, 'webhook'],
    ['delete a webhook', 'DELETE', (id) => `/v1/webhooks/${id}`, undefined, 'webhook'],
    ["rotate a webhook's secret", 'POST', (id) => `/v1/webhooks/${id}/rotate-secret`, {}, 'webhook'],
    ["list a webhook's deliveries", 'GET', (id) => `/v1/webhooks/${id}/deliveries`, undefined, 'webhook'],
    ['redeliver', 'POST', (id) => `/v1/webhooks/${id}/deliveries/${DELIVERY}/redeliver`, {}, 'webhook'],
    ['read an approval', 'GET', (id) => `/v1/approvals/${id}`, undefined, 'approval'],
    ['approve', 'POST', (id) => `/v1/approvals/${id}/approve`, {}, 'approval'],
    ['reject', 'POST', (id) => `/v1/approvals/${id}/reject`, { reason: 'no' }, 'approval'],
    ["an approval's report", 'GET', (id) => `/v1/approvals/${id}/report.pdf`, undefined, 'approval'],
  ];

  it.each(routes)(
    "%s: another tenant's id answers and audits exactly as an unknown one",
    async (_name, method, path, body, kind) => {
      const ids = kind === 'webhook' ? [foreign.webhook, foreign.platformWebhook] : [foreign.approval];
      const unknown = await recordsOf(
        () => call(plane, method, path(UNKNOWN[kind]), body, { token: owner.token }),
        UNKNOWN[kind],
      );
      expect(unknown.res.statusCode).toBe(404);
      for (const id of ids) {
        const theirs = await recordsOf(() => call(plane, method, path(id), body, { token: owner.token }), id);
        expect(shape(theirs.res, id)).toEqual(shape(unknown.res, UNKNOWN[kind]));
        expect(theirs.records).toEqual(unknown.records);
      }
      // The denial is on record for the tenant, naming nothing it may not know.
      expect(unknown.records).toEqual([
        expect.objectContaining({ tenantId: 'fid-a', outcome: 'denied', target: `${kind}/:id` }),
      ]);
    },
  );

  it('leaves the objects as they were and lets their own tenant and the platform see them', async () => {
    expect((await call(plane, 'GET', `/v1/webhooks/${foreign.webhook}`)).json()).toMatchObject({
      tenantId: 'fid-b',
      enabled: true,
    });
    expect((await call(plane, 'GET', `/v1/webhooks/${foreign.platformWebhook}`)).json()).toMatchObject({
      tenantId: null,
      enabled: true,
    });
    expect((await call(plane, 'GET', `/v1/approvals/${foreign.approval}`)).json()).toMatchObject({
      tenantId: 'fid-b',
      status: 'pending',
    });
    const b = await tenantKey(plane, 'fid-b', 'owner');
    expect(
      (await call(plane, 'GET', `/v1/webhooks/${foreign.webhook}`, undefined, { token: b.token })).statusCode,
    ).toBe(200);
    expect(
      (await call(plane, 'GET', `/v1/approvals/${foreign.approval}`, undefined, { token: b.token })).statusCode,
    ).toBe(200);
  });
});
