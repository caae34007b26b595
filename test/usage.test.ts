/**
 * Usage metering and count, size and cost quotas on PGlite and PostgreSQL: ingestion and
 * rollups (a fast-check property with concurrent writers and repeats), idempotency,
 * tenant isolation, bad input changing nothing, the monthly report as JSON and CSV with
 * prices, reservations of counted quotas (concurrent, and changed in the manifest without a
 * restart), the storage quota on object writes, the monthly cost alert, and the control
 * plane's own metering of jobs and storage.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, manifest, tenantKey, waitForPhase } from './support/http.js';

const HOUR = 3_600_000;
const PRICES = JSON.stringify({
  requests: 0.001,
  jobs: 0.5,
  object_bytes: 0.02,
  plans: { enterprise: { requests: 0.0005 } },
});

/** Meters `n` requests for `tenant` at `ts` (ids unique per call unless given). */
function meters(n: number, ts: string, prefix: string, resource = 'requests', amount = 1) {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, resource, amount, ts }));
}

describe.each(engines())('usage and quotas on %s', (engine) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(engine, { env: { TENANCY_USAGE_PRICES: PRICES }, start: { manualSampler: true } });
    expect((await call(plane, 'POST', '/v1/tenants', manifest('use-a'))).statusCode).toBe(201);
    expect((await call(plane, 'POST', '/v1/tenants', manifest('use-b', { plan: 'enterprise' }))).statusCode).toBe(201);
    await waitForPhase(plane, 'use-a', 'active', 60_000);
    await waitForPhase(plane, 'use-b', 'active', 60_000);
  }, 120_000);
  afterAll(async () => {
    await plane?.stop();
  });

  it('records meters once, rolls them up per hour and day, and audits each batch', async () => {
    const base =
      Date.parse('2026-11-20T10:00:00Z') > Date.now() - 30 * 86_400_000
        ? Date.parse('2026-11-20T10:00:00Z')
        : Date.now() - 2 * 86_400_000;
    const h0 = new Date(Math.floor(base / HOUR) * HOUR);
    const at = (ms: number) => new Date(h0.getTime() + ms).toISOString();
    const batch = [
      ...meters(3, at(60_000), 'r1'),
      ...meters(2, at(HOUR + 5_000), 'r2'),
      { id: 'tok-1', resource: 'tokens_in', amount: 1234.5, ts: at(1000) },
    ];
    const first = await call(plane, 'POST', '/v1/tenants/use-a/usage', { meters: batch });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ accepted: 6, duplicates: 0 });
    const again = await call(plane, 'POST', '/v1/tenants/use-a/usage', {
      meters: [...batch, ...meters(1, at(HOUR + 6_000), 'r3')],
    });
    expect(again.json()).toEqual({ accepted: 1, duplicates: 6 });

    const q = `from=${encodeURIComponent(h0.toISOString())}&to=${encodeURIComponent(at(2 * HOUR))}`;
    const hourly = (await call(plane, 'GET', `/v1/tenants/use-a/usage?${q}&granularity=hour`)).json();
    expect(hourly.items).toEqual([
      { resource: 'requests', start: h0.toISOString(), amount: 3, events: 3, max: 1 },
      { resource: 'tokens_in', start: h0.toISOString(), amount: 1234.5, events: 1, max: 1234.5 },
      { resource: 'requests', start: at(HOUR), amount: 3, events: 3, max: 1 },
    ]);
    expect(hourly.totals).toEqual([
      { resource: 'requests', amount: 6, events: 6 },
      { resource: 'tokens_in', amount: 1234.5, events: 1 },
    ]);
    const onlyRequests = (await call(plane, 'GET', `/v1/tenants/use-a/usage?${q}&resource=requests`)).json();
    expect(onlyRequests.items.every((p: any) => p.resource === 'requests')).toBe(true);
    const day = new Date(Math.floor(h0.getTime() / 86_400_000) * 86_400_000).toISOString();
    const daily = (
      await call(
        plane,
        'GET',
        `/v1/tenants/use-a/usage?granularity=day&from=${encodeURIComponent(day)}&to=${encodeURIComponent(new Date(Date.parse(day) + 2 * 86_400_000).toISOString())}&resource=requests`,
      )
    ).json();
    expect(daily.items.reduce((s: number, p: any) => s + p.amount, 0)).toBe(6);

    const audit = (await call(plane, 'GET', '/v1/audit?tenant=use-a&action=usage.record&limit=10')).json().items;
    expect(audit).toHaveLength(2);
    expect(audit.find((r: any) => r.details.submitted === 7)).toMatchObject({
      action: 'usage.record',
      tenantId: 'use-a',
      outcome: 'success',
      details: expect.objectContaining({ submitted: 7, accepted: 1, duplicates: 6 }),
    });
  });

  it('keeps rollups equal to the sum of distinct meters under concurrent writers and repeats (property)', async () => {
    let round = 0;
    const now = Date.now();
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            id: fc.integer({ min: 0, max: 40 }),
            hour: fc.integer({ min: 0, max: 50 }),
            cents: fc.integer({ min: 0, max: 100_000 }),
            resource: fc.constantFrom('requests', 'cost_usd', 'gpu_seconds'),
          }),
          { minLength: 1, maxLength: 120 },
        ),
        fc.integer({ min: 1, max: 6 }),
        async (draws, writers) => {
          const tenant = `prop-${engine === 'postgres' ? 'p' : 'l'}-${round++}`;
          await call(plane, 'POST', '/v1/tenants', {
            apiVersion: 'tenancy/v1',
            kind: 'Tenant',
            metadata: { id: tenant },
            spec: { name: tenant, plan: 'pro' },
          });
          // A meter id always carries the same meter (a repeat is a retry, not a conflict).
          const byId = new Map<number, { id: string; resource: string; amount: number; ts: string }>();
          for (const d of draws)
            if (!byId.has(d.id))
              byId.set(d.id, {
                id: `m${d.id}`,
                resource: d.resource,
                amount: d.cents / 100,
                ts: new Date(now - d.hour * HOUR - 1000).toISOString(),
              });
          const sent = draws.map((d) => byId.get(d.id)!);
          const chunks: (typeof sent)[] = Array.from({ length: writers }, () => []);
          for (const [i, m] of sent.entries()) chunks[i % writers]!.push(m);
          const results = await Promise.all(
            chunks
              .filter((c) => c.length > 0)
              .map((c) => call(plane, 'POST', `/v1/tenants/${tenant}/usage`, { meters: c })),
          );
          for (const r of results) expect(r.statusCode, r.body).toBe(200);
          expect(results.reduce((s, r) => s + r.json().accepted, 0)).toBe(byId.size);
          const expected = new Map<string, number>();
          for (const m of byId.values()) {
            const key = `${m.resource}@${new Date(Math.floor(Date.parse(m.ts) / HOUR) * HOUR).toISOString()}`;
            expected.set(key, (expected.get(key) ?? 0) + Math.round(m.amount * 100));
          }
          const to = new Date(Math.ceil(now / HOUR) * HOUR).toISOString();
          const from = new Date(Date.parse(to) - 52 * HOUR).toISOString();
          const series = (
            await call(
              plane,
              'GET',
              `/v1/tenants/${tenant}/usage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
            )
          ).json();
          const actual = new Map<string, number>(
            series.items.map((p: any) => [`${p.resource}@${p.start}`, Math.round(p.amount * 100)]),
          );
          expect(actual).toEqual(expected);
          const days = (
            await call(
              plane,
              'GET',
              `/v1/tenants/${tenant}/usage?granularity=day&from=${encodeURIComponent(new Date(now - 4 * 86_400_000).toISOString())}&to=${encodeURIComponent(to)}`,
            )
          ).json();
          const dayTotal = days.totals.reduce((s: number, t: any) => s + Math.round(t.amount * 100), 0);
          expect(dayTotal).toBe([...expected.values()].reduce((s, v) => s + v, 0));
        },
      ),
      { numRuns: 6 },
    );
  }, 120_000);

  it('refuses bad input with problem+json, a stable code and field paths, and changes nothing', async () => {
    // Earlier tests' tenants may still be reconciling (and auditing): count only what this test could change.
    const writes = async () =>
      Number(
        (
          await plane.database.db
            .selectFrom('audit_log')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('tenant_id', 'in', ['use-a', 'nobody-here'])
            .where('outcome', '=', 'success')
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await writes();
    const events = (
      await plane.database.db
        .selectFrom('usage_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n;
    const now = new Date().toISOString();
    const cases: Array<[unknown, string]> = [
      [{}, '/meters'],
      [{ meters: [] }, '/meters'],
      [{ meters: [{ id: 'a', resource: 'requests', amount: -1, ts: now }] }, '/meters/0/amount'],
      [{ meters: [{ id: 'a', resource: 'Requests', amount: 1, ts: now }] }, '/meters/0/resource'],
      [{ meters: [{ id: 'a b', resource: 'requests', amount: 1, ts: now }] }, '/meters/0/id'],
      [{ meters: [{ id: 'a', resource: 'requests', amount: 1, ts: 'yesterday' }] }, '/meters/0/ts'],
      [{ meters: [{ id: 'a', resource: 'object_bytes', amount: 1, ts: now }] }, '/meters/0/resource'],
      [{ meters: [{ id: 'a', resource: 'requests', amount: 1, ts: now, extra: 1 }] }, '/meters/0/extra'],
      [
        {
          meters: [
            { id: 'ok', resource: 'requests', amount: 1, ts: now },
            { id: 'old', resource: 'requests', amount: 1, ts: '2001-01-01T00:00:00Z' },
          ],
        },
        '/meters/1/ts',
      ],
      [
        { meters: [{ id: 'ok', resource: 'requests', amount: 1, ts: new Date(Date.now() + 3_600_000).toISOString() }] },
        '/meters/0/ts',
      ],
      [{ meters: meters(1001, now, 'big') }, '/meters'],
    ];
    for (const [body, path] of cases) {
      const p = expectProblem(await call(plane, 'POST', '/v1/tenants/use-a/usage', body), 400, 'invalid_usage');
      expect(
        p.errors.map((e: any) => e.path),
        JSON.stringify(body).slice(0, 100),
      ).toContain(path);
    }
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/use-a/usage', 'not json', {
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'invalid_json',
    );
    const unknown = expectProblem(
      await call(plane, 'POST', '/v1/usage', {
        meters: [
          { tenantId: 'use-a', id: 'x1', resource: 'requests', amount: 1, ts: now },
          { tenantId: 'nobody-here', id: 'x2', resource: 'requests', amount: 1, ts: now },
        ],
      }),
      404,
      'tenant_not_found',
    );
    expect(unknown.errors).toEqual([{ path: '/meters/1/tenantId', message: 'tenant nobody-here not found' }]);
    for (const [query, path] of [
      ['granularity=minute', '/query/granularity'],
      ['from=yesterday', '/query/from'],
      ['from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z', '/query/from'],
      ['from=2026-01-01T00:00:00Z&to=2026-11-01T00:00:00Z', '/query/from'],
      ['resource=Bad!', '/query/resource'],
      ['color=blue', '/query/color'],
    ]) {
      const p = expectProblem(await call(plane, 'GET', `/v1/tenants/use-a/usage?${query}`), 400, 'invalid_query');
      expect(
        p.errors.map((e: any) => e.path),
        query,
      ).toContain(path);
    }
    expectProblem(await call(plane, 'GET', '/v1/usage/report?month=2026-13'), 400, 'invalid_query');
    expectProblem(await call(plane, 'GET', '/v1/usage/report?format=xml'), 400, 'invalid_query');
    expectProblem(await call(plane, 'POST', '/v1/tenants/use-a/quotas/maxWidgets/reserve', {}), 400, 'invalid_quota');
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/use-a/quotas/maxProjects/reserve', { amount: 0 }),
      400,
      'validation_failed',
    );
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/use-a/quotas/maxUsers', { current: -1 }),
      400,
      'validation_failed',
    );
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/use-a/objects/..%2Fescape', 'x', {
        headers: { 'content-type': 'text/plain' },
      }),
      400,
      'invalid_object_key',
    );
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/use-a/objects/.tenancy-prefix', 'x', {
        headers: { 'content-type': 'text/plain' },
      }),
      400,
      'invalid_object_key',
    );
    expectProblem(await call(plane, 'GET', '/v1/tenants/Not_A_Tenant/usage'), 400, 'invalid_tenant_id');
    expectProblem(await call(plane, 'GET', '/v1/tenants/no-such-tenant/usage'), 404, 'tenant_not_found');
    expect(await writes()).toBe(before);
    expect(
      (
        await plane.database.db
          .selectFrom('usage_events')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    ).toBe(events);
  });

  it("keeps each tenant's usage, quotas, report and objects to its own credentials (404 for others)", async () => {
    const a = await tenantKey(plane, 'use-a', 'owner');
    const viewer = await tenantKey(plane, 'use-a', 'viewer');
    expect((await call(plane, 'GET', '/v1/tenants/use-a/usage', undefined, { token: a.token })).statusCode).toBe(200);
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/use-b/usage', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/use-b/quotas', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/use-b/usage/report', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/usage/report?tenant=use-b', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/use-b/objects', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/use-b/objects/x', 'x', {
        token: a.token,
        headers: { 'content-type': 'text/plain' },
      }),
      404,
      'tenant_not_found',
    );
    // Tenants cannot meter (or un-meter) themselves.
    expectProblem(
      await call(
        plane,
        'POST',
        '/v1/tenants/use-a/usage',
        { meters: meters(1, new Date().toISOString(), 'self') },
        { token: a.token },
      ),
      403,
      'forbidden',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/use-a/usage', undefined, { token: viewer.token }),
      403,
      'forbidden',
    );
    // Both tenants have usage this month (the report covers the current month).
    await call(plane, 'POST', '/v1/tenants/use-a/usage', { meters: meters(1, new Date().toISOString(), 'a-iso') });
    await call(plane, 'POST', '/v1/tenants/use-b/usage', { meters: meters(2, new Date().toISOString(), 'b-iso') });
    const own = (await call(plane, 'GET', '/v1/usage/report', undefined, { token: a.token })).json();
    expect(own.tenants.map((t: any) => t.tenantId)).toEqual(['use-a']);
    const all = (await call(plane, 'GET', '/v1/usage/report')).json();
    expect(all.tenants.map((t: any) => t.tenantId)).toEqual(expect.arrayContaining(['use-a', 'use-b']));
  });

  it('prices the month per tenant and plan, as JSON and as CSV', async () => {
    const now = new Date();
    const month = now.toISOString().slice(0, 7);
    await createActive(plane, 'bill-pro');
    await createActive(plane, 'bill-ent', { plan: 'enterprise' });
    const ts = now.toISOString();
    await call(plane, 'POST', '/v1/usage', {
      meters: [
        { tenantId: 'bill-pro', id: 'req', resource: 'requests', amount: 2000, ts },
        { tenantId: 'bill-pro', id: 'spend', resource: 'cost_usd', amount: 1.25, ts },
        { tenantId: 'bill-pro', id: 'other', resource: 'gpu_seconds', amount: 7, ts },
        { tenantId: 'bill-ent', id: 'req', resource: 'requests', amount: 2000, ts },
      ],
    });
    const report = (await call(plane, 'GET', `/v1/usage/report?month=${month}`)).json();
    expect(report).toMatchObject({ month, currency: 'USD', partial: true });
    const pro = report.tenants.find((t: any) => t.tenantId === 'bill-pro');
    expect(pro).toEqual({
      tenantId: 'bill-pro',
      plan: 'pro',
      lines: [
        { resource: 'cost_usd', unit: 'USD', quantity: 1.25, unitPriceUsd: 1, costUsd: 1.25 },
        { resource: 'gpu_seconds', unit: 'unit', quantity: 7, unitPriceUsd: 0, costUsd: 0 },
        { resource: 'requests', unit: 'request', quantity: 2000, unitPriceUsd: 0.001, costUsd: 2 },
      ],
      totalUsd: 3.25,
    });
    expect(report.tenants.find((t: any) => t.tenantId === 'bill-ent')).toMatchObject({
      plan: 'enterprise',
      totalUsd: 1,
      lines: [{ resource: 'requests', unitPriceUsd: 0.0005, costUsd: 1 }],
    });
    expect(report.totalUsd).toBeCloseTo(
      report.tenants.reduce((s: number, t: any) => s + t.totalUsd, 0),
      6,
    );

    const csv = await call(plane, 'GET', `/v1/tenants/bill-pro/usage/report?month=${month}&format=csv`);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toContain(`usage-bill-pro-${month}.csv`);
    expect(csv.body.trim().split('\n')).toEqual([
      'month,tenant_id,plan,resource,unit,quantity,unit_price_usd,cost_usd',
      `${month},bill-pro,pro,cost_usd,USD,1.25,1,1.25`,
      `${month},bill-pro,pro,gpu_seconds,unit,7,0,0`,
      `${month},bill-pro,pro,requests,request,2000,0.001,2`,
    ]);
    const negotiated = await call(plane, 'GET', `/v1/usage/report?month=${month}`, undefined, {
      headers: { accept: 'text/csv' },
    });
    expect(negotiated.headers['content-type']).toMatch(/^text\/csv/);
    expect(negotiated.body).toContain(`${month},bill-ent,enterprise,requests,request,2000,0.0005,1`);
    const empty = (await call(plane, 'GET', '/v1/usage/report?month=2001-01')).json();
    expect(empty).toMatchObject({ month: '2001-01', partial: false, tenants: [], totalUsd: 0 });
  });

  it('reserves counted quotas atomically; a limit changed in the manifest applies at once', async () => {
    await createActive(plane, 'q-count', { quotas: { maxProjects: 2, maxUsers: 5 } });
    expect((await call(plane, 'POST', '/v1/tenants/q-count/quotas/maxProjects/reserve', {})).json()).toEqual({
      quota: 'maxProjects',
      limit: 2,
      current: 1,
    });
    expect((await call(plane, 'POST', '/v1/tenants/q-count/quotas/maxProjects/reserve', { amount: 1 })).json()).toEqual(
      { quota: 'maxProjects', limit: 2, current: 2 },
    );
    const refused = expectProblem(
      await call(plane, 'POST', '/v1/tenants/q-count/quotas/maxProjects/reserve', {}),
      409,
      'quota_exceeded',
    );
    expect(refused).toMatchObject({ quota: 'maxProjects', limit: 2, current: 2, requested: 1 });
    expect(
      (await call(plane, 'PATCH', '/v1/tenants/q-count', { spec: { quotas: { maxProjects: 3 } } })).statusCode,
    ).toBe(200);
    expect((await call(plane, 'POST', '/v1/tenants/q-count/quotas/maxProjects/reserve', {})).json()).toMatchObject({
      limit: 3,
      current: 3,
    });
    expect((await call(plane, 'POST', '/v1/tenants/q-count/quotas/maxProjects/release', { amount: 2 })).json()).toEqual(
      { quota: 'maxProjects', limit: 3, current: 1 },
    );

    // Ten concurrent reservations against five free users: exactly five succeed.
    const results = await Promise.all(
      Array.from({ length: 10 }, () => call(plane, 'POST', '/v1/tenants/q-count/quotas/maxUsers/reserve', {})),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(5);
    expect(results.filter((r) => r.statusCode === 409).every((r) => r.json().code === 'quota_exceeded')).toBe(true);
    expect((await call(plane, 'PUT', '/v1/tenants/q-count/quotas/maxUsers', { current: 7 })).json()).toEqual({
      quota: 'maxUsers',
      limit: 5,
      current: 7,
    });
    const status = (await call(plane, 'GET', '/v1/tenants/q-count/quotas')).json().items;
    expect(status.find((q: any) => q.quota === 'maxUsers')).toMatchObject({
      limit: 5,
      current: 7,
      exceeded: true,
      enforcedBy: 'control-plane',
    });
    expect(status.find((q: any) => q.quota === 'maxProjects')).toMatchObject({ limit: 3, current: 1, exceeded: false });
    const events = (await call(plane, 'GET', '/v1/events?tenant=q-count&type=tenancy.quota.*&limit=100')).json().items;
    expect(events.filter((e: any) => e.type === 'tenancy.quota.reserved')).toHaveLength(8);
  });

  it('holds object writes to storageLimitBytes (409 with limit and current) and frees space on delete', async () => {
    await createActive(plane, 'q-store', { quotas: { storageLimitBytes: 1000 } });
    const put = (key: string, bytes: number) =>
      call(plane, 'PUT', `/v1/tenants/q-store/objects/${key}`, 'x'.repeat(bytes), {
        headers: { 'content-type': 'text/plain' },
      });
    const first = await put('docs/a.txt', 600);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ key: 'docs/a.txt', size: 600 });
    const over = expectProblem(await put('docs/b.txt', 500), 409, 'quota_exceeded');
    expect(over).toMatchObject({ quota: 'storageLimitBytes', limit: 1000, current: 600, requested: 500 });
    expect((await call(plane, 'GET', '/v1/tenants/q-store/objects/docs/b.txt')).statusCode).toBe(404);
    // Overwriting counts only the growth.
    expect((await put('docs/a.txt', 900)).statusCode).toBe(201);
    const got = await call(plane, 'GET', '/v1/tenants/q-store/objects/docs/a.txt');
    expect(got.body).toBe('x'.repeat(900));
    expect(got.headers['content-type']).toMatch(/^text\/plain/);
    expect(got.headers.etag).toMatch(/^"[^"]+"$/);
    expect((await call(plane, 'GET', '/v1/tenants/q-store/objects')).json().items.map((o: any) => o.key)).toEqual([
      'docs/a.txt',
    ]);
    expect(
      (await call(plane, 'GET', '/v1/tenants/q-store/quotas'))
        .json()
        .items.find((q: any) => q.quota === 'storageLimitBytes'),
    ).toMatchObject({ current: 900, limit: 1000 });
    expect((await call(plane, 'DELETE', '/v1/tenants/q-store/objects/docs/a.txt')).json()).toEqual({
      key: 'docs/a.txt',
      deleted: true,
    });
    expect((await put('docs/b.txt', 500)).statusCode).toBe(201);
    // Raising the limit in the manifest applies to the next write.
    expectProblem(await put('docs/c.txt', 600), 409, 'quota_exceeded');
    await call(plane, 'PATCH', '/v1/tenants/q-store', { spec: { quotas: { storageLimitBytes: 2000 } } });
    expect((await put('docs/c.txt', 600)).statusCode).toBe(201);
    expect(await plane.quotas.objectBytes('q-store')).toBe(1100);
    // Raw bytes of any media type (or none); bodies over the limit are 413 and change nothing.
    const raw = await call(plane, 'PUT', '/v1/tenants/q-store/objects/raw.json', '{"stays":"raw"}', {
      headers: { 'content-type': 'application/json' },
    });
    expect(raw.json()).toMatchObject({ size: 15, contentType: 'application/json' });
    expect((await call(plane, 'GET', '/v1/tenants/q-store/objects/raw.json')).body).toBe('{"stays":"raw"}');
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/q-store/objects/huge.bin', Buffer.alloc(16 * 1024 * 1024 + 1) as never, {
        headers: { 'content-type': 'application/octet-stream' },
      }),
      413,
      'payload_too_large',
    );
    expect(await plane.quotas.objectBytes('q-store')).toBe(1115);
    const audit = (await call(plane, 'GET', '/v1/audit?tenant=q-store&action=object.put&limit=10')).json().items;
    expect(audit.length).toBe(5);
  });

  it('raises one quota.exceeded event when the monthly cost goes over maxCostPerMonthUsd', async () => {
    await createActive(plane, 'q-cost', { quotas: { maxCostPerMonthUsd: 1 } });
    const ts = new Date().toISOString();
    await call(plane, 'POST', '/v1/tenants/q-cost/usage', {
      meters: [{ id: 'spend-1', resource: 'cost_usd', amount: 0.6, ts }],
    });
    let state = (await call(plane, 'GET', '/v1/tenants/q-cost/quotas'))
      .json()
      .items.find((q: any) => q.quota === 'maxCostPerMonthUsd');
    expect(state).toMatchObject({ limit: 1, current: 0.6, exceeded: false, unit: 'USD' });
    await call(plane, 'POST', '/v1/tenants/q-cost/usage', { meters: [...meters(500, ts, 'req')] });
    await call(plane, 'POST', '/v1/tenants/q-cost/usage', {
      meters: [{ id: 'spend-2', resource: 'cost_usd', amount: 0.1, ts }],
    });
    state = (await call(plane, 'GET', '/v1/tenants/q-cost/quotas'))
      .json()
      .items.find((q: any) => q.quota === 'maxCostPerMonthUsd');
    expect(state).toMatchObject({ limit: 1, current: 1.2, exceeded: true });
    expect(Date.parse(state.resetsAt)).toBeGreaterThan(Date.now());
    const events = (await call(plane, 'GET', '/v1/events?tenant=q-cost&type=tenancy.quota.exceeded')).json().items;
    expect(events).toHaveLength(1);
    expect(events[0].data).toMatchObject({ quota: 'maxCostPerMonthUsd', limit: 1, current: 1.1 });
    await expect(plane.quotas.assertCostAllowed('q-cost')).rejects.toMatchObject({
      code: 'quota_exceeded',
      status: 403,
    });
    // More spending under the same cap raises nothing new; a raised cap crossed again does.
    await call(plane, 'POST', '/v1/tenants/q-cost/usage', {
      meters: [{ id: 'spend-3', resource: 'cost_usd', amount: 0.1, ts }],
    });
    await call(plane, 'PATCH', '/v1/tenants/q-cost', { spec: { quotas: { maxCostPerMonthUsd: 2 } } });
    await plane.quotas.assertCostAllowed('q-cost');
    await call(plane, 'POST', '/v1/tenants/q-cost/usage', {
      meters: [{ id: 'spend-4', resource: 'cost_usd', amount: 1, ts }],
    });
    const again = (await call(plane, 'GET', '/v1/events?tenant=q-cost&type=tenancy.quota.exceeded')).json().items;
    expect(again.map((e: any) => [e.data.limit, e.data.current])).toEqual([
      [1, 1.1],
      [2, 2.3],
    ]);
  });

  it('prunes raw meters past the retention and keeps their rollups', async () => {
    await createActive(plane, 'q-prune');
    const old = new Date(Date.now() - 30 * 86_400_000).toISOString();
    await call(plane, 'POST', '/v1/tenants/q-prune/usage', {
      meters: [
        { id: 'old-1', resource: 'requests', amount: 4, ts: old },
        { id: 'new-1', resource: 'requests', amount: 1, ts: new Date().toISOString() },
      ],
    });
    const raw = () =>
      plane.database.db.selectFrom('usage_events').select('id').where('tenant_id', '=', 'q-prune').execute();
    expect(await plane.usage.prune(Date.now())).toBe(0);
    // Six days on, the 30-day-old meter is past the 35-day retention.
    expect(await plane.usage.prune(Date.now() + 6 * 86_400_000)).toBeGreaterThanOrEqual(1);
    expect((await raw()).map((r) => r.id)).toEqual(['new-1']);
    const day = (
      await call(
        plane,
        'GET',
        `/v1/tenants/q-prune/usage?granularity=day&from=${encodeURIComponent(new Date(Date.now() - 31 * 86_400_000).toISOString())}`,
      )
    ).json();
    expect(day.totals).toEqual([{ resource: 'requests', amount: 5, events: 2 }]);
  });

  it("meters the control plane's own work: jobs and hourly storage samples, each once", async () => {
    await createActive(plane, 'q-sample');
    await call(plane, 'PUT', '/v1/tenants/q-sample/objects/blob.bin', 'y'.repeat(4096), {
      headers: { 'content-type': 'application/octet-stream' },
    });
    const job = await plane.jobs.create({
      kind: 'archive',
      tenantId: 'q-sample',
      params: {},
      total: 1,
      createdBy: 'test',
    });
    await plane.jobs.finish(job.id, { state: 'succeeded' });
    const first = await plane.sampler.runOnce();
    expect(first.jobs).toBeGreaterThanOrEqual(1);
    const second = await plane.sampler.runOnce();
    expect(second).toMatchObject({ jobs: 0, samples: 0 });
    const usage = (await call(plane, 'GET', '/v1/tenants/q-sample/usage')).json();
    expect(usage.totals).toEqual(
      expect.arrayContaining([
        { resource: 'jobs', amount: 1, events: 1 },
        { resource: 'object_bytes', amount: 4096, events: 1 },
      ]),
    );
    const database = usage.totals.find((t: any) => t.resource === 'database_bytes');
    expect(database?.events).toBe(1);
    expect(database.amount).toBeGreaterThanOrEqual(0);
  });
});

describe('the storage quota on the S3 protocol (s3rver)', () => {
  let plane: TestPlane;
  let server: S3rver;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tenancy-usage-s3-'));
    server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true });
    const { port } = await server.run();
    plane = await startTestPlane('pglite', {
      env: { TENANCY_S3_URL: `http://S3RVER:S3RVER@127.0.0.1:${port}` },
      start: { manualSampler: true },
    });
    await createActive(plane, 's3-quota', { quotas: { storageLimitBytes: 1000 } });
    await createActive(plane, 's3-other');
  }, 120_000);
  afterAll(async () => {
    await plane?.stop();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses writes over the limit, counts overwrites by their growth, and keeps tenants apart', async () => {
    const put = (tenant: string, key: string, bytes: number) =>
      call(plane, 'PUT', `/v1/tenants/${tenant}/objects/${key}`, 'q'.repeat(bytes), {
        headers: { 'content-type': 'text/plain' },
      });
    const first = await put('s3-quota', 'a/one.txt', 700);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json().etag).toMatch(/^[0-9a-f]{32}$/);
    expect(expectProblem(await put('s3-quota', 'a/two.txt', 400), 409, 'quota_exceeded')).toMatchObject({
      quota: 'storageLimitBytes',
      limit: 1000,
      current: 700,
    });
    expect((await put('s3-quota', 'a/one.txt', 1000)).statusCode).toBe(201);
    expect((await put('s3-other', 'a/one.txt', 5)).statusCode).toBe(201);
    expect((await call(plane, 'GET', '/v1/tenants/s3-quota/objects/a/one.txt')).body).toBe('q'.repeat(1000));
    expect((await call(plane, 'GET', '/v1/tenants/s3-other/objects/a/one.txt')).body).toBe('q'.repeat(5));
    expect(
      (await call(plane, 'GET', '/v1/tenants/s3-quota/objects')).json().items.map((o: any) => [o.key, o.size]),
    ).toEqual([['a/one.txt', 1000]]);
    expect((await call(plane, 'DELETE', '/v1/tenants/s3-quota/objects/a/one.txt')).json().deleted).toBe(true);
    expect((await put('s3-quota', 'a/two.txt', 400)).statusCode).toBe(201);
    expect(await plane.quotas.objectBytes('s3-quota')).toBe(400);
  });
});

describe('usage in the OpenAPI description', () => {
  it('lists the usage, quota and object operations with the schemas that validate them', async () => {
    const { buildOpenApi } = await import('../src/http/openapi/index.js');
    const doc = buildOpenApi('test') as any;
    for (const path of [
      '/v1/usage',
      '/v1/tenants/{id}/usage',
      '/v1/usage/report',
      '/v1/tenants/{id}/usage/report',
      '/v1/tenants/{id}/quotas',
      '/v1/tenants/{id}/quotas/{quota}/reserve',
      '/v1/tenants/{id}/objects/{key}',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    expect(doc.components.schemas.UsageBatch.properties.meters.maxItems).toBe(1000);
    expect(doc.components.schemas.TenantUsageBatch.properties.meters.items.required).toEqual([
      'id',
      'resource',
      'amount',
      'ts',
    ]);
    expect(doc.paths['/v1/tenants/{id}/usage'].get.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['from', 'to', 'granularity', 'resource']),
    );
    expect(Object.keys(doc.paths['/v1/usage/report'].get.responses['200'].content)).toEqual([
      'application/json',
      'text/csv',
    ]);
  });
});
