/**
 * Approvals end to end: a change the tenant's governance names waits as `pending`,
 * approving applies it through the normal path (audited, evented), rejecting leaves the
 * tenant as it was, the requester cannot approve, stale approvals are refused, bundles
 * wait as a unit, notices reach a local SMTP sink and a signed webhook receiver, and the
 * PDF report carries the decision.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PDFParse } from 'pdf-parse';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSigningSecret } from '../src/governance/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, manifest, tenantKey } from './support/http.js';

interface Mail {
  to: string[];
  subject: string;
  text: string;
}

/** A local SMTP sink: accepts every message and keeps it. */
async function startSmtpSink(): Promise<{ port: number; mails: Mail[]; close: () => Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          mails.push({
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
          });
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A webhook receiver that fails the first `failFirst` requests with 503. */
async function startReceiver(failFirst: number): Promise<{
  url: string;
  received: Array<{ headers: IncomingHttpHeaders; body: string }>;
  attempts: () => number;
  close: () => Promise<void>;
}> {
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  let attempts = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      attempts += 1;
      if (attempts <= failFirst) {
        res.writeHead(503).end();
        return;
      }
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/approvals`,
    received,
    attempts: () => attempts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const GOVERNANCE = {
  approvals: {
    require: ['featureEnable', 'budgetIncrease', 'profileMove'],
    notify: { email: ['approvers@acme.example'] },
  },
};

describe.each(engines())('approvals on %s', (engine) => {
  let plane: TestPlane;
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const secret = newSigningSecret();
  let requester: { token: string; id: string };
  let owner: { token: string; id: string };

  beforeAll(async () => {
    smtp = await startSmtpSink();
    receiver = await startReceiver(1);
    plane = await startTestPlane(engine, {
      env: {
        TENANCY_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
        TENANCY_APPROVALS_FROM: 'Tenancy <approvals@tenancy.example>',
        TENANCY_APPROVALS_WEBHOOK_URL: receiver.url,
        TENANCY_APPROVALS_WEBHOOK_SECRET: secret,
        TENANCY_WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
        TENANCY_PUBLIC_URL: 'https://tenancy.example',
      },
      start: { approvalNoticeRetryScheduleMs: [50, 50, 50] },
    });
    await createActive(plane, 'appr-a', { governance: GOVERNANCE });
    await createActive(plane, 'appr-b');
    requester = await tenantKey(plane, 'appr-a', 'admin');
    owner = await tenantKey(plane, 'appr-a', 'owner');
  });
  afterAll(async () => {
    await plane?.stop();
    await smtp?.close();
    await receiver?.close();
  });

  it('holds a feature enable as pending, changes nothing, then applies it when another approver approves', async () => {
    const before = (await call(plane, 'GET', '/v1/tenants/appr-a')).json();
    const audits = await countRows(plane, 'audit_log');
    const res = await call(
      plane,
      'PATCH',
      '/v1/tenants/appr-a',
      { spec: { features: { betaSearch: true } } },
      { token: requester.token },
    );
    expect(res.statusCode, res.body).toBe(202);
    const { approval } = res.json();
    expect(res.headers.location).toBe(`/v1/approvals/${approval.id}`);
    expect(approval).toMatchObject({
      tenantId: 'appr-a',
      kind: 'featureEnable',
      kinds: ['featureEnable'],
      status: 'pending',
      summary: 'enable betaSearch',
      requestedBy: `apikey:${requester.id}`,
    });
    const held = (await call(plane, 'GET', '/v1/tenants/appr-a')).json();
    expect(held.metadata.generation).toBe(before.metadata.generation);
    expect(held.spec.features?.betaSearch).toBeUndefined();
    expect(await countRows(plane, 'audit_log')).toBe(audits + 1);

    const approved = await call(
      plane,
      'POST',
      `/v1/approvals/${approval.id}/approve`,
      { reason: 'looks fine' },
      { token: owner.token },
    );
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({
      status: 'approved',
      decidedBy: `apikey:${owner.id}`,
      reason: 'looks fine',
      result: { generation: before.metadata.generation + 1, changed: ['/spec/features'] },
    });
    const after = (await call(plane, 'GET', '/v1/tenants/appr-a')).json();
    expect(after.spec.features.betaSearch).toBe(true);
    expect(after.metadata.generation).toBe(before.metadata.generation + 1);
    expect((await call(plane, 'GET', '/v1/tenants/appr-a/context')).json().features.betaSearch).toBe(true);

    const trail = (await call(plane, 'GET', '/v1/audit?tenant=appr-a&limit=1000')).json().items;
    expect(trail).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          action: 'approval.request',
          target: `approval/${approval.id}`,
          actor: `apikey:${requester.id}`,
        }),
        expect.objectContaining({
          action: 'approval.approve',
          target: `approval/${approval.id}`,
          actor: `apikey:${owner.id}`,
        }),
        expect.objectContaining({
          action: 'tenant.update',
          actor: `apikey:${owner.id}`,
          details: expect.objectContaining({ approvalId: approval.id }),
        }),
      ]),
    );
    const events = (await call(plane, 'GET', '/v1/events?limit=1000&tenant=appr-a'))
      .json()
      .items.map((e: any) => e.type);
    expect(events).toEqual(
      expect.arrayContaining(['tenancy.approval.requested', 'tenancy.approval.approved', 'tenancy.tenant.updated']),
    );
    const twice = await call(plane, 'POST', `/v1/approvals/${approval.id}/approve`, {}, { token: owner.token });
    expectProblem(twice, 409, 'approval_not_pending');
  });

  it('rejecting leaves the tenant unchanged', async () => {
    const before = (await call(plane, 'GET', '/v1/tenants/appr-a')).json();
    const { approval } = (
      await call(
        plane,
        'PATCH',
        '/v1/tenants/appr-a',
        { spec: { features: { rejectMe: true } } },
        { token: requester.token },
      )
    ).json();
    const rejected = await call(
      plane,
      'POST',
      `/v1/approvals/${approval.id}/reject`,
      { reason: 'not now' },
      { token: owner.token },
    );
    expect(rejected.statusCode, rejected.body).toBe(200);
    expect(rejected.json()).toMatchObject({ status: 'rejected', reason: 'not now', result: null });
    const after = (await call(plane, 'GET', '/v1/tenants/appr-a')).json();
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec).toEqual(before.spec);
  });

  it('refuses self-approval, approvers outside approverRoles, and other tenants (404)', async () => {
    const { approval } = (
      await call(
        plane,
        'PATCH',
        '/v1/tenants/appr-a',
        { spec: { features: { selfish: true } } },
        { token: requester.token },
      )
    ).json();
    expectProblem(
      await call(plane, 'POST', `/v1/approvals/${approval.id}/approve`, {}, { token: requester.token }),
      403,
      'self_approval',
    );
    const other = await tenantKey(plane, 'appr-b', 'owner');
    expectProblem(
      await call(plane, 'GET', `/v1/approvals/${approval.id}`, undefined, { token: other.token }),
      404,
      'approval_not_found',
    );
    expectProblem(
      await call(plane, 'POST', `/v1/approvals/${approval.id}/approve`, {}, { token: other.token }),
      404,
      'approval_not_found',
    );
    expect((await call(plane, 'GET', '/v1/approvals', undefined, { token: other.token })).json().items).toEqual([]);
    const viewer = await tenantKey(plane, 'appr-a', 'viewer');
    expectProblem(
      await call(plane, 'POST', `/v1/approvals/${approval.id}/approve`, {}, { token: viewer.token }),
      403,
      'forbidden',
    );
    expect((await call(plane, 'GET', `/v1/approvals/${approval.id}`)).json().status).toBe('pending');
    expect((await call(plane, 'GET', '/v1/tenants/appr-a')).json().spec.features.selfish).toBeUndefined();

    // Only owners decide for this tenant: an admin other than the requester is refused.
    await createActive(plane, 'appr-c', {
      governance: { approvals: { require: ['featureEnable'], approverRoles: ['owner'] } },
    });
    const cAdmin = await tenantKey(plane, 'appr-c', 'admin');
    const pending = (await call(plane, 'PATCH', '/v1/tenants/appr-c', { spec: { features: { x: true } } })).json()
      .approval;
    expectProblem(
      await call(plane, 'POST', `/v1/approvals/${pending.id}/approve`, {}, { token: cAdmin.token }),
      403,
      'approver_role_required',
    );
    // The requester may withdraw its own request.
    const withdrawn = await call(
      plane,
      'POST',
      `/v1/approvals/${approval.id}/reject`,
      { reason: 'withdrawn' },
      { token: requester.token },
    );
    expect(withdrawn.json().status).toBe('rejected');
  });

  it('refuses a stale approval (the tenant changed since) and marks it stale', async () => {
    const { approval } = (
      await call(
        plane,
        'PATCH',
        '/v1/tenants/appr-a',
        { spec: { features: { later: true } } },
        { token: requester.token },
      )
    ).json();
    expect((await call(plane, 'PATCH', '/v1/tenants/appr-a', { spec: { name: 'Renamed meanwhile' } })).statusCode).toBe(
      200,
    );
    const before = (await call(plane, 'GET', '/v1/tenants/appr-a')).json();
    const p = expectProblem(
      await call(plane, 'POST', `/v1/approvals/${approval.id}/approve`, {}, { token: owner.token }),
      409,
      'approval_stale',
    );
    expect(p.detail).toContain('generation');
    expect((await call(plane, 'GET', `/v1/approvals/${approval.id}`)).json().status).toBe('stale');
    const after = (await call(plane, 'GET', '/v1/tenants/appr-a')).json();
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec.features.later).toBeUndefined();
  });

  it('gates budget increases and profile moves (platform fields) and lets the platform admin approve', async () => {
    const budget = await call(plane, 'PATCH', '/v1/tenants/appr-a', { spec: { quotas: { maxCostPerMonthUsd: 5000 } } });
    expect(budget.statusCode, budget.body).toBe(202);
    expect(budget.json().approval).toMatchObject({
      kind: 'budgetIncrease',
      summary: 'raise maxCostPerMonthUsd 1000 -> 5000',
    });
    const lower = await call(plane, 'PATCH', '/v1/tenants/appr-a', { spec: { quotas: { maxUsers: 10 } } });
    expect(lower.statusCode, lower.body).toBe(200);
    const move = await call(plane, 'PATCH', '/v1/tenants/appr-a', {
      spec: { profile: 'st-dedicated', billing: { committedSpendUsd: 100 } },
    });
    expect(move.json().approval).toMatchObject({ kind: 'profileMove', kinds: ['profileMove', 'budgetIncrease'] });
    expect((await call(plane, 'GET', '/v1/tenants/appr-a')).json().spec.profile).toBe('mt-standard');
    await call(plane, 'POST', `/v1/approvals/${move.json().approval.id}/reject`, {}, { token: owner.token });
    // The budget request was made before the maxUsers change, so it is stale now; ask again and approve.
    expectProblem(
      await call(plane, 'POST', `/v1/approvals/${budget.json().approval.id}/approve`, {}, { token: owner.token }),
      409,
      'approval_stale',
    );
    const again = (
      await call(
        plane,
        'PATCH',
        '/v1/tenants/appr-a',
        { spec: { quotas: { maxCostPerMonthUsd: 5000 } } },
        { token: undefined },
      )
    ).json().approval;
    const ok = await call(plane, 'POST', `/v1/approvals/${again.id}/approve`, {}, { token: owner.token });
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await call(plane, 'GET', '/v1/tenants/appr-a/context')).json().quotas.maxCostPerMonthUsd).toBe(5000);
  });

  it('holds a whole bundle as one approval, applies it as a unit when approved, and plans it in a dry run', async () => {
    const current = (await call(plane, 'GET', '/v1/tenants/appr-a')).json();
    const bundle = {
      items: [
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'Tenant',
            metadata: { id: 'appr-a' },
            spec: { ...current.spec, name: 'Bundled name' },
          },
        },
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'TenantFeatures',
            metadata: { tenant: 'appr-a' },
            spec: { flags: { bundleFlag: true } },
          },
        },
        { manifest: manifest('appr-new') },
      ],
    };
    const dry = await call(plane, 'POST', '/v1/apply', { ...bundle, dryRun: true });
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json().items.find((i: any) => i.kind === 'TenantFeatures').approvalRequired).toEqual(['featureEnable']);
    const tenants = await countRows(plane, 'tenants');
    const res = await call(plane, 'POST', '/v1/apply', bundle);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ applied: false, approval: { kind: 'featureEnable', status: 'pending' } });
    expect(await countRows(plane, 'tenants')).toBe(tenants);
    expect((await call(plane, 'GET', '/v1/tenants/appr-a')).json().spec.name).not.toBe('Bundled name');
    const ok = await call(plane, 'POST', `/v1/approvals/${res.json().approval.id}/approve`, {}, { token: owner.token });
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await call(plane, 'GET', '/v1/tenants/appr-a')).json().spec.name).toBe('Bundled name');
    expect((await call(plane, 'GET', '/v1/tenants/appr-a/context')).json().features.bundleFlag).toBe(true);
    expect((await call(plane, 'GET', '/v1/tenants/appr-new')).statusCode).toBe(200);
  });

  it('announces requests and decisions by e-mail and by a signed webhook (retrying a failing receiver)', async () => {
    const { approval } = (
      await call(
        plane,
        'PATCH',
        '/v1/tenants/appr-a',
        { spec: { features: { announced: true } } },
        { token: requester.token },
      )
    ).json();
    const mail = await until('the request e-mail', () => smtp.mails.find((m) => m.subject.includes(approval.id)));
    expect(mail.to).toEqual(['approvers@acme.example']);
    expect(mail.subject).toContain('featureEnable needs approval');
    expect(mail.text).toContain(`https://tenancy.example/v1/approvals/${approval.id}/approve`);
    const hook = await until('the signed request notice', () =>
      receiver.received.find((r) => r.body.includes(approval.id)),
    );
    expect(receiver.attempts()).toBe(receiver.received.length + 1); // the first delivery was answered 503 and retried
    const verified = new Webhook(secret).verify(hook.body, hook.headers as Record<string, string>) as any;
    expect(verified).toMatchObject({
      type: 'tenancy.approval.requested',
      id: `${approval.id}.pending`,
      approval: { id: approval.id, status: 'pending' },
    });
    expect(() => new Webhook(newSigningSecret()).verify(hook.body, hook.headers as Record<string, string>)).toThrow();

    await call(plane, 'POST', `/v1/approvals/${approval.id}/approve`, {}, { token: owner.token });
    await until('the decision e-mail', () =>
      smtp.mails.find((m) => m.subject.includes(approval.id) && m.subject.includes('was approved')),
    );
    const decided = await until('the signed decision notice', () =>
      receiver.received.find((r) => r.body.includes(`${approval.id}.approved`)),
    );
    expect(new Webhook(secret).verify(decided.body, decided.headers as Record<string, string>)).toMatchObject({
      type: 'tenancy.approval.approved',
    });
  });

  it('exports an approval as a PDF report with its id, decision and approver', async () => {
    const { approval } = (
      await call(
        plane,
        'PATCH',
        '/v1/tenants/appr-a',
        { spec: { features: { reported: true } } },
        { token: requester.token },
      )
    ).json();
    await call(plane, 'POST', `/v1/approvals/${approval.id}/approve`, { reason: 'ship it' }, { token: owner.token });
    const res = await plane.app.inject({
      method: 'GET',
      url: `/v1/approvals/${approval.id}/report.pdf`,
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    const parser = new PDFParse({ data: new Uint8Array(res.rawPayload) });
    const text = (await parser.getText()).text;
    await parser.destroy();
    expect(text).toContain(approval.id);
    expect(text).toContain('Decision: approved');
    expect(text).toContain(`apikey:${owner.id}`);
    expect(text).toContain('ship it');
    expect(text).toContain('approval.approve');
    const other = await tenantKey(plane, 'appr-b', 'owner');
    expectProblem(
      await call(plane, 'GET', `/v1/approvals/${approval.id}/report.pdf`, undefined, { token: other.token }),
      404,
      'approval_not_found',
    );
  });

  it('refuses bad input with field paths and changes nothing', async () => {
    // The last test's approval is still being reconciled: let it finish before counting.
    await plane.controller.idle();
    const audits = await countRows(plane, 'audit_log');
    expectProblem(await call(plane, 'GET', '/v1/approvals/nope'), 400, 'invalid_approval_id');
    expectProblem(await call(plane, 'GET', '/v1/approvals/apr_000000000000000000000000'), 404, 'approval_not_found');
    const p = expectProblem(await call(plane, 'GET', '/v1/approvals?status=maybe&limit=0'), 400, 'invalid_query');
    expect(p.errors.map((e: any) => e.path).sort()).toEqual(['/query/limit', '/query/status']);
    const { approval } = (
      await call(
        plane,
        'PATCH',
        '/v1/tenants/appr-a',
        { spec: { features: { badInput: true } } },
        { token: requester.token },
      )
    ).json();
    const bad = expectProblem(
      await call(
        plane,
        'POST',
        `/v1/approvals/${approval.id}/approve`,
        { reason: 7, extra: 1 },
        { token: owner.token },
      ),
      400,
      'validation_failed',
    );
    expect(bad.errors.map((e: any) => e.path).sort()).toEqual(['/extra', '/reason']);
    const governance = expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/appr-b', {
        spec: { governance: { approvals: { require: ['coffee'] } } },
      }),
      400,
      'invalid_manifest',
    );
    expect(governance.errors[0].path).toBe('/spec/governance/approvals/require/0');
    expect((await call(plane, 'GET', `/v1/approvals/${approval.id}`)).json().status).toBe('pending');
    expect(await countRows(plane, 'audit_log')).toBe(audits + 1);
  });
});
