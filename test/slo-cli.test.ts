/**
 * SLOs from the `tenancy` CLI against a control plane on 127.0.0.1: a folder's slos.yaml
 * applied, `slo status` as a table, `slo export -o openslo` applied back unchanged, and
 * `slo rules` as Prometheus rules over the gauges the server exports.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { main } from '../src/cli/main.js';
import { ADMIN_TOKEN, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive } from './support/http.js';

describe('SLO CLI', () => {
  let plane: TestPlane;
  let dir: string;
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      argv,
      { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) },
      { TENANCY_URL: plane.url, TENANCY_TOKEN: ADMIN_TOKEN },
    );
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    plane = await startTestPlane('pglite', { listen: true, start: { slo: { evaluateIntervalMs: 0 } } });
    dir = await mkdtemp(join(tmpdir(), 'slo-cli-'));
    await createActive(plane, 'cli-slo');
  }, 60_000);
  afterAll(async () => {
    await plane?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies slos.yaml, shows status, exports OpenSLO that applies back unchanged', async () => {
    await mkdir(join(dir, 'tenants', 'cli-slo'), { recursive: true });
    await writeFile(
      join(dir, 'tenants', 'cli-slo', 'slos.yaml'),
      [
        'apiVersion: tenancy/v1\nkind: SLO\nmetadata: { tenant: cli-slo, name: api }\nspec: { objective: availability, target: 0.999, window: 30d }',
        'apiVersion: tenancy/v1\nkind: SLO\nmetadata: { tenant: cli-slo, name: fast }\nspec: { objective: latency, target: 0.95, thresholdMs: 300, window: 7d, source: sdk }',
      ].join('\n---\n'),
    );
    const applied = await run('apply', '-f', join(dir, 'tenants'));
    expect(applied.code, applied.err).toBe(0);
    expect(applied.out).toContain('applied: 2 created');
    await call(plane, 'POST', '/v1/tenants/cli-slo/slis', {
      events: [{ ts: new Date().toISOString(), outcome: 'success', latencyMs: 40 }],
    });
    await plane.slo.slis.flush();
    const status = await run('slo', 'status', 'cli-slo');
    expect(status.code, status.err).toBe(0);
    expect(status.out).toMatch(/api\s+availability\s+0\.999\s+30d\s+1\s+1\.00000\s+0%\s+healthy/);
    expect(status.out).toMatch(/fast\s+latency\s+0\.95\s+7d\s+0\s+-/);

    const exported = await run('slo', 'export', 'cli-slo');
    expect(exported.code, exported.err).toBe(0);
    const docs = parseAllDocuments(exported.out).map((d) => d.toJS());
    expect(docs[1]).toEqual({
      apiVersion: 'openslo/v1',
      kind: 'SLO',
      metadata: { name: 'fast', labels: { tenant: 'cli-slo' } },
      spec: {
        service: 'sdk',
        indicatorRef: 'tenancy-latency',
        timeWindow: [{ duration: '7d', isRolling: true }],
        budgetingMethod: 'Occurrences',
        objectives: [{ displayName: 'fast', target: 0.95, op: 'lte', value: 300 }],
      },
    });
    const file = join(dir, 'openslo.yaml');
    await writeFile(file, exported.out);
    const back = await run('apply', '-f', file);
    expect(back.code, back.err).toBe(0);
    expect(back.out).toContain('nothing to change');
    expect((await run('slo', 'export', 'cli-slo', '-o', 'toml')).code).toBe(1);
  });

  it('writes Prometheus rules for every alert rule', async () => {
    const r = await run('slo', 'rules');
    expect(r.code, r.err).toBe(0);
    const rules = parse(r.out).groups[0].rules;
    expect(rules.map((x: { alert: string }) => x.alert)).toEqual([
      'TenancySloPageFast',
      'TenancySloPageSlow',
      'TenancySloTicket',
      'TenancySloBudgetExhausted',
    ]);
    expect(rules[0].expr).toContain('tenancy_slo_burn_rate{window="1h"} >= 14.4');
    expect(rules[0].labels).toEqual({ severity: 'page' });
  });
});
