/**
 * `tenancy usage` against a control plane listening on 127.0.0.1: a tenant's series as a
 * table and JSON, the monthly report as a table, JSON and CSV, quotas, and one-line errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { ADMIN_TOKEN, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive } from './support/http.js';

describe('tenancy usage', () => {
  let plane: TestPlane;
  let env: NodeJS.ProcessEnv;
  const month = new Date().toISOString().slice(0, 7);
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      argv,
      { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) },
      env,
    );
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    plane = await startTestPlane('pglite', {
      listen: true,
      env: { TENANCY_USAGE_PRICES: '{"requests": 0.01}' },
      start: { manualSampler: true },
    });
    env = { TENANCY_URL: plane.url, TENANCY_TOKEN: ADMIN_TOKEN };
    await createActive(plane, 'cli-a', { quotas: { maxProjects: 4 } });
    const ts = new Date().toISOString();
    const res = await call(plane, 'POST', '/v1/tenants/cli-a/usage', {
      meters: [
        { id: 'a', resource: 'requests', amount: 150, ts },
        { id: 'b', resource: 'cost_usd', amount: 0.5, ts },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await plane?.stop();
  });

  it("shows a tenant's usage as a table and as JSON", async () => {
    const t = await run('usage', 'cli-a');
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/^START\s+RESOURCE\s+AMOUNT\s+EVENTS\s+MAX$/m);
    expect(t.out).toMatch(/requests\s+150\s+1/);
    const json = JSON.parse((await run('usage', 'cli-a', '--granularity', 'day', '-o', 'json')).out);
    expect(json).toMatchObject({ tenantId: 'cli-a', granularity: 'day' });
    expect(json.totals).toEqual([
      { resource: 'cost_usd', amount: 0.5, events: 1 },
      { resource: 'requests', amount: 150, events: 1 },
    ]);
  });

  it('prints the monthly report as a table, JSON and CSV', async () => {
    const t = await run('usage', 'report', '--month', month);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/cli-a\s+pro\s+requests\s+150\s+request\s+0\.01\s+1\.5/);
    expect(t.out).toMatch(/\(all\)\s+2/);
    const json = JSON.parse((await run('usage', 'report', '--month', month, '--tenant', 'cli-a', '-o', 'json')).out);
    expect(json.tenants[0]).toMatchObject({ tenantId: 'cli-a', totalUsd: 2 });
    const csv = (await run('usage', 'report', '--month', month, '-o', 'csv')).out.split('\n');
    expect(csv[0]).toBe('month,tenant_id,plan,resource,unit,quantity,unit_price_usd,cost_usd');
    expect(csv).toContain(`${month},cli-a,pro,requests,request,150,0.01,1.5`);
  });

  it('shows quotas, and fails with one line on bad input', async () => {
    const q = await run('usage', 'quotas', 'cli-a');
    expect(q.out).toMatch(/maxProjects\s+4\s+0\s+projects\s+no\s+control-plane/);
    const bad = await run('usage', 'cli-a', '--granularity', 'minute');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/\/query\/granularity must be hour or day \[invalid_query\]/);
    const month13 = await run('usage', 'report', '--month', '2026-13');
    expect(month13.err).toContain('[invalid_query]');
    expect((await run('usage')).err).toContain('name a tenant');
  });
});
