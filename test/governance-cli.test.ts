/**
 * Governance from the `tenancy` CLI against a control plane on 127.0.0.1: an apply that
 * waits for approval, listing and approving it, the PDF report, the sovereignty check's
 * exit code, and the lineage export.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { writeFile } from 'node:fs/promises';
import { main } from '../src/cli/main.js';
import { ADMIN_TOKEN, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, tenantKey } from './support/http.js';

describe('governance CLI', () => {
  let plane: TestPlane;
  let dir: string;
  const run = async (env: NodeJS.ProcessEnv, ...argv: string[]) => {
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
    plane = await startTestPlane('pglite', { listen: true });
    dir = await mkdtemp(join(tmpdir(), 'gov-cli-'));
  });
  afterAll(async () => {
    await plane?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a folder whose change needs approval, then lists, approves and reports it', async () => {
    await createActive(plane, 'cli-gov', { governance: { approvals: { require: ['featureEnable'] } } });
    const admin = { TENANCY_URL: plane.url, TENANCY_TOKEN: ADMIN_TOKEN };
    const owner = { TENANCY_URL: plane.url, TENANCY_TOKEN: (await tenantKey(plane, 'cli-gov', 'owner')).token };
    const file = join(dir, 'features.yaml');
    await writeFile(
      file,
      stringify({
        apiVersion: 'tenancy/v1',
        kind: 'TenantFeatures',
        metadata: { tenant: 'cli-gov' },
        spec: { flags: { newCheckout: true } },
      }),
    );
    const applied = await run(admin, 'apply', '-f', file);
    expect(applied.code, applied.err).toBe(0);
    expect(applied.out).toContain('[needs approval: featureEnable]');
    const id = /waiting for approval (apr_[0-9a-f]{24})/.exec(applied.out)?.[1];
    expect(id, applied.out).toBeDefined();
    const list = await run(owner, 'approvals', 'list', '--status', 'pending');
    expect(list.out).toMatch(new RegExp(`${id}\\s+cli-gov\\s+featureEnable\\s+pending`));
    const self = await run(admin, 'approvals', 'approve', id!);
    expect(self.code).toBe(1);
    expect(self.err).toContain('[self_approval]');
    const ok = await run(owner, 'approvals', 'approve', id!, '--reason', 'go');
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toBe(`approval ${id} approved: enable newCheckout`);
    expect((await call(plane, 'GET', '/v1/tenants/cli-gov/context')).json().features.newCheckout).toBe(true);
    const pdf = join(dir, 'report.pdf');
    expect((await run(owner, 'approvals', 'report', id!, '-f', pdf)).code).toBe(0);
    expect((await readFile(pdf)).subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('checks sovereignty (exit 1 when refused) and exports lineage as JSON Lines', async () => {
    const admin = { TENANCY_URL: plane.url, TENANCY_TOKEN: ADMIN_TOKEN };
    await createActive(plane, 'cli-sov', { region: 'eu-west-1' });
    await call(plane, 'POST', '/v1/apply', {
      items: [
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'DataSovereignty',
            metadata: { tenant: 'cli-sov' },
            spec: { forbiddenRegions: ['cn-*'] },
          },
        },
      ],
    });
    const refused = await run(
      admin,
      'sovereignty',
      'check',
      'cli-sov',
      '--operation',
      'move',
      '--region',
      'cn-north-1',
    );
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/sovereignty_violation\s+\/region\s+\/spec\/forbiddenRegions\/0/);
    expect(
      (await run(admin, 'sovereignty', 'check', 'cli-sov', '--operation', 'move', '--region', 'eu-central-1')).out,
    ).toBe('allowed');
    const bad = await run(admin, 'sovereignty', 'check', 'cli-sov', '--operation', 'fly');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('/operation');

    await call(plane, 'POST', '/v1/tenants/cli-sov/lineage', {
      records: [1, 2, 3].map((i) => ({
        domain: 'd',
        usecase: 'u',
        sourceId: `s${i}`,
        queryId: `q${i}`,
        trustScore: i / 4,
      })),
    });
    const exported = await run(admin, 'lineage', 'export', 'cli-sov');
    expect(exported.out.split('\n').map((l) => JSON.parse(l).sourceId)).toEqual(['s1', 's2', 's3']);
    const out = join(dir, 'lineage.jsonl');
    expect((await run(admin, 'lineage', 'export', 'cli-sov', '-f', out)).out).toBe(`wrote ${out} (3 records)`);
  });
});
