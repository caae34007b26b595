/**
 * SLOs through the API on PGlite and PostgreSQL, driven by SLI events with timestamps and a
 * clock the test moves: documents (Tenancy's and OpenSLO's) and their bad input, status with
 * budget, burn rates and alerts, the evaluator's events and conditions, the freeze refusing
 * each risky change and letting an owner's override through (audited), and recovery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, tenantKey } from './support/http.js';

describe.each(engines())('SLOs on %s', (engine) => {
  let plane: TestPlane;
  let clock = Date.now();
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    plane = await startTestPlane(engine, {
      start: { slo: { now: () => clock, evaluateIntervalMs: 0, recoverAfterMs: 0, flushIntervalMs: 60_000 } },
    });
    await createActive(plane, 'slo-t');
    await createActive(plane, 'slo-u');
    const flags = await call(plane, 'POST', '/v1/apply', {
      items: [
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'TenantFeatures',
            metadata: { tenant: 'slo-t' },
            spec: { flags: { aiSummaries: true, search: true }, experimental: ['aiSummaries'] },
          },
        },
      ],
    });
    expect(flags.statusCode, flags.body).toBe(200);
    for (const role of ['owner', 'admin', 'viewer']) keys[role] = (await tenantKey(plane, 'slo-t', role)).token;
  }, 90_000);

  afterAll(async () => {
    await plane?.stop();
  });

  const slo = (name: string, spec: Record<string, unknown>, tenant = 'slo-t') => ({
    manifest: { apiVersion: 'tenancy/v1', kind: 'SLO', metadata: { tenant, name }, spec },
  });
  const apply = (items: unknown[], headers?: Record<string, string>, token?: string) =>
    call(plane, 'POST', '/v1/apply', { items }, { ...(headers ? { headers } : {}), ...(token ? { token } : {}) });
  const events = (n: number, make: (i: number) => Record<string, unknown>) =>
    Array.from({ length: n }, (_, i) => ({ ts: new Date(Date.now() - 1000).toISOString(), ...make(i) }));
  const post = (tenant: string, list: unknown[]) => call(plane, 'POST', `/v1/tenants/${tenant}/slis`, { events: list });

  it('refuses bad SLOs and SLI batches and records nothing', async () => {
    const bad = await apply([
      slo('a', { objective: 'availability', target: 1.5 }),
      slo('b', { objective: 'uptime', target: 0.9 }),
      slo('c', { objective: 'availability', target: 0.9, window: '120d' }),
      slo('d', { objective: 'latency', target: 0.9 }),
    ]);
    const p = expectProblem(bad, 400, 'invalid_bundle');
    expect(p.errors.map((e: any) => e.path)).toEqual(
      expect.arrayContaining([
        '/items/0/manifest/spec/target',
        '/items/1/manifest/spec/objective',
        '/items/2/manifest/spec/window',
        '/items/3/manifest/spec/thresholdMs',
      ]),
    );
    const future = await post('slo-t', [
      { ts: new Date(Date.now() + 3_600_000).toISOString(), outcome: 'success', latencyMs: 1 },
    ]);
    expect(expectProblem(future, 400, 'validation_failed').errors[0].path).toBe('/events/0/ts');
    expectProblem(
      await post(
        'slo-t',
        events(10_001, () => ({ outcome: 'success', latencyMs: 1 })),
      ),
      400,
      'validation_failed',
    );
    expectProblem(
      await post('slo-t', [{ ts: new Date().toISOString(), outcome: 'maybe', latencyMs: 1 }]),
      400,
      'validation_failed',
    );
    await plane.slo.slis.flush();
    expect(
      await plane.database.db.selectFrom('sli_minutes').selectAll().where('tenant_id', '=', 'slo-t').execute(),
    ).toEqual([]);
  });

  it('reads OpenSLO documents and reports status', async () => {
    const applied = await apply([
      slo('api-availability', { objective: 'availability', target: 0.99, window: '1d', minEvents: 10 }),
      slo('api-latency', { objective: 'latency', target: 0.9, thresholdMs: 100, window: '1d', minEvents: 10 }),
      {
        source: 'tenants/slo-u/slos.yaml',
        manifest: {
          apiVersion: 'openslo/v1',
          kind: 'SLO',
          metadata: { name: 'checkout' },
          spec: {
            service: 'sdk',
            indicatorRef: 'tenancy-availability',
            timeWindow: [{ duration: '7d', isRolling: true }],
            budgetingMethod: 'Occurrences',
            objectives: [{ target: 0.995 }],
          },
        },
      },
    ]);
    expect(applied.statusCode, applied.body).toBe(200);
    const u = (await call(plane, 'GET', '/v1/tenants/slo-u/slos')).json();
    expect(u.items).toEqual([
      expect.objectContaining({
        name: 'checkout',
        spec: expect.objectContaining({ objective: 'availability', target: 0.995, window: '7d', source: 'sdk' }),
        sli: null,
      }),
    ]);
    const status = await call(plane, 'GET', '/v1/tenants/slo-t/slos/api-availability', undefined, {
      token: keys.viewer!,
    });
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json()).toMatchObject({ name: 'api-availability', errorBudget: { status: 'healthy' }, alerts: [] });
    expectProblem(await call(plane, 'GET', '/v1/tenants/slo-t/slos/nope'), 404, 'slo_not_found');
  });

  it('fires alerts, exhausts the budget and freezes risky changes', async () => {
    const res = await post(
      'slo-t',
      events(100, (i) => ({ outcome: i < 20 ? 'error' : 'success', latencyMs: 500 })),
    );
    expect(res.statusCode, res.body).toBe(202);
    clock = Date.now();
    await plane.slo.evaluate();
    const body = (await call(plane, 'GET', '/v1/tenants/slo-t/slos')).json();
    const avail = body.items.find((s: any) => s.name === 'api-availability');
    expect(avail.sli).toBeCloseTo(0.8, 6);
    expect(avail.burnRates['5m']).toBeCloseTo(20, 6);
    expect(avail.errorBudget).toMatchObject({ unit: 'minutes', status: 'exhausted' });
    expect(avail.alerts.map((a: any) => a.rule)).toEqual(['page-fast', 'page-slow', 'ticket']);
    expect(body.freeze).toMatchObject({ frozen: true, slos: expect.arrayContaining(['api-availability']) });
    const tenant = (await call(plane, 'GET', '/v1/tenants/slo-t')).json();
    expect(tenant.status.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'ErrorBudgetExhausted', status: 'True' }),
        expect.objectContaining({ type: 'LatencyDegraded', status: 'True' }),
      ]),
    );
    // The experimental flag is off while the latency SLO is violated; the others keep their value.
    const ctx = (await call(plane, 'GET', '/v1/tenants/slo-t/context')).json();
    expect(ctx.features).toMatchObject({ aiSummaries: false, search: true });
    expect(ctx.flags.aiSummaries).toMatchObject({ value: false, reason: 'DISABLED', source: 'slo' });
    const metrics = (await call(plane, 'GET', '/metrics', undefined, { token: null })).body;
    expect(metrics).toMatch(/tenancy_slo_error_budget_consumed_ratio\{tenant="slo-t",slo="api-availability"\} 20/);
    expect(metrics).toMatch(/tenancy_slo_alert_firing\{tenant="slo-t",slo="api-availability",rule="page-fast"\} 1/);
    expect(metrics).toMatch(/tenancy_slo_frozen_tenants 1/);
    for (const action of ['slo.alert.firing', 'slo.budget.exhausted', 'slo.freeze.started', 'slo.degraded.started']) {
      const audit = (await call(plane, 'GET', `/v1/audit?tenant=slo-t&action=${action}`)).json();
      expect(audit.items.length, action).toBeGreaterThan(0);
    }

    // Each risky change is refused; a harmless one goes through.
    const frozen = (r: any) =>
      expect(expectProblem(r, 409, 'error_budget_exhausted').slos).toContain('api-availability');
    frozen(await call(plane, 'PATCH', '/v1/tenants/slo-t', { spec: { profile: 'st-dedicated' } }));
    frozen(await call(plane, 'PATCH', '/v1/tenants/slo-t', { spec: { features: { newCheckout: true } } }));
    frozen(
      await apply([
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'TenantFeatures',
            metadata: { tenant: 'slo-t' },
            spec: { flags: { beta: true } },
          },
        },
      ]),
    );
    frozen(
      await apply([
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'TenantRouter',
            metadata: { tenant: 'slo-t' },
            spec: { primary: { model: 'm-1' } },
          },
        },
      ]),
    );
    frozen(
      await call(plane, 'POST', '/v1/tenants/slo-t/policies', {
        domainId: 'identity',
        usecaseId: 'login',
        semver: '1.0.0',
        fields: { action: 'string' },
        defaultEffect: 'allow',
        rules: [{ id: 'r1', kind: 'access', effect: 'deny', when: 'request.action == "x"' }],
      }),
    );
    frozen(await call(plane, 'POST', '/v1/migrations', { tenants: ['slo-t'] }));
    const renamed = await call(plane, 'PATCH', '/v1/tenants/slo-t', { spec: { name: 'Renamed while frozen' } });
    expect(renamed.statusCode, renamed.body).toBe(200);

    // An admin may not override; the owner may, with a reason, and it is audited.
    const override = { 'tenancy-freeze-override': 'hotfix for incident 42' };
    expectProblem(
      await call(
        plane,
        'PATCH',
        '/v1/tenants/slo-t',
        { spec: { features: { newCheckout: true } } },
        { token: keys.admin!, headers: override },
      ),
      403,
      'forbidden',
    );
    const owner = await call(
      plane,
      'PATCH',
      '/v1/tenants/slo-t',
      { spec: { features: { newCheckout: true } } },
      { token: keys.owner!, headers: override },
    );
    expect(owner.statusCode, owner.body).toBe(200);
    const audited = (await call(plane, 'GET', '/v1/audit?tenant=slo-t&action=slo.freeze_override')).json().items;
    expect(audited).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          outcome: 'success',
          details: expect.objectContaining({ reason: 'hotfix for incident 42', changes: ['featureEnable'] }),
        }),
        expect.objectContaining({ outcome: 'denied' }),
      ]),
    );
  });

  it('resolves alerts, ends the freeze and the degradation when the tenant recovers', async () => {
    // Two hours later the short windows are empty: the pages resolve; the day's budget is still spent.
    clock = Date.now() + 2 * 3_600_000;
    await plane.slo.evaluate();
    let body = (await call(plane, 'GET', '/v1/tenants/slo-t/slos')).json();
    let avail = body.items.find((s: any) => s.name === 'api-availability');
    expect(avail.alerts.map((a: any) => a.rule)).toEqual(['ticket']);
    expect(body.freeze.frozen).toBe(true);
    // page-fast and page-slow of the availability SLO, page-slow of the latency SLO (it burnt at 10×).
    expect((await call(plane, 'GET', '/v1/audit?tenant=slo-t&action=slo.alert.resolved')).json().items.length).toBe(3);

    // Enough good traffic brings the day's error share under the budget.
    clock = Date.now();
    expect(
      (
        await post(
          'slo-t',
          events(2_000, () => ({ outcome: 'success', latencyMs: 20 })),
        )
      ).statusCode,
    ).toBe(202);
    await plane.slo.evaluate();
    body = (await call(plane, 'GET', '/v1/tenants/slo-t/slos')).json();
    avail = body.items.find((s: any) => s.name === 'api-availability');
    expect(avail.errorBudget.status).toBe('warning');
    expect(body.freeze.frozen).toBe(false);
    for (const action of ['slo.freeze.ended', 'slo.degraded.ended']) {
      const audit = (await call(plane, 'GET', `/v1/audit?tenant=slo-t&action=${action}`)).json();
      expect(audit.items.length, action).toBe(1);
    }
    const tenant = (await call(plane, 'GET', '/v1/tenants/slo-t')).json();
    expect(tenant.status.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'ErrorBudgetExhausted', status: 'False' }),
        expect.objectContaining({ type: 'LatencyDegraded', status: 'False' }),
      ]),
    );
    const restored = (await call(plane, 'GET', '/v1/tenants/slo-t/context')).json();
    expect(restored.features).toMatchObject({ aiSummaries: true, search: true });
    const moved = await call(plane, 'PATCH', '/v1/tenants/slo-t', { spec: { features: { other: true } } });
    expect(moved.statusCode, moved.body).toBe(200);
  });
});
