/**
 * The `tenancy` CLI against a real control plane listening on 127.0.0.1: the README
 * walkthrough, output formats, and one-line errors with non-zero exits.
 */
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { main } from '../src/cli/main.js';
import { ADMIN_TOKEN, startTestPlane, type TestPlane } from './support/engines.js';
import { countRows } from './support/http.js';

describe('tenancy CLI', () => {
  let plane: TestPlane;
  let env: NodeJS.ProcessEnv;
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      argv,
      { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) },
      env,
    );
    return { code, out: out.join('\n'), err };
  };

  beforeAll(async () => {
    plane = await startTestPlane('pglite', { listen: true });
    env = { TENANCY_URL: plane.url, TENANCY_TOKEN: ADMIN_TOKEN };
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('applies the example folder, printing the plan first', async () => {
    const r = await run('apply', '-f', 'examples/tenants');
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.out).toContain('plan (8 documents from examples/tenants):');
    expect(r.out).toMatch(/create\s+tenant\/acme-corp/);
    expect(r.out).toMatch(/create\s+TenantFeatures\/acme-corp\/default/);
    expect(r.out).toContain('applied: 8 created, 0 updated, 0 unchanged');
    const again = await run('apply', '-f', 'examples/tenants');
    expect(again.out).toContain('nothing to change');
  });

  it('lists and shows tenants as a table, JSON and YAML', async () => {
    await plane.controller.idle();
    const table = await run('get', 'tenants');
    expect(table.out.split('\n')[0]).toMatch(/^ID\s+NAME\s+PLAN\s+PROFILE\s+REGION\s+PHASE\s+GEN\s+AGE$/);
    expect(table.out).toMatch(/acme-corp\s+Acme Corporation\s+enterprise\s+mt-standard\s+eu-west-1\s+active/);
    const json = JSON.parse((await run('get', 'tenants', '-o', 'json')).out);
    expect(json.items.map((t: any) => t.metadata.id)).toEqual(['acme-corp', 'globex', 'initech']);
    const yaml = parse((await run('get', 'tenant', 'globex', '-o', 'yaml')).out);
    expect(yaml.spec.plan).toBe('pro');
    const filtered = await run('get', 'tenants', '-l', 'tier=gold');
    expect(filtered.out.split('\n')).toHaveLength(2);
    const described = await run('describe', 'tenant', 'acme-corp');
    expect(described.out).toContain('Phase:         active');
    expect(described.out).toMatch(/maxUsers\s+5000/);
    expect(described.out).toMatch(/betaDashboard\s+true/);
    expect(described.out).toContain('TenantRouter/default');
  });

  it('exports the resource plan and the Kubernetes isolation objects', async () => {
    const summary = await run('get', 'resources', 'initech');
    expect(summary.out).toMatch(/database\s+database warehouse_initech \(role t_initech\)/);
    const docs = (await run('get', 'resources', 'initech', '-o', 'yaml')).out.split('\n---\n').map((d) => parse(d));
    expect(docs.map((d) => d.kind)).toEqual([
      'Namespace',
      'ResourceQuota',
      'LimitRange',
      'NetworkPolicy',
      'NetworkPolicy',
    ]);
    expect(docs[0].metadata.name).toBe('tenant-initech');
    const json = JSON.parse((await run('get', 'resources', 'acme-corp', '-o', 'json')).out);
    expect(json).toMatchObject({
      strategy: 'shared',
      objects: { bucket: 'shared', prefix: 'tenants/acme-corp/' },
      queue: { subject: 'jobs.acme-corp' },
    });
  });

  it('runs lifecycle verbs and refuses illegal ones with one line', async () => {
    const noReason = await run('suspend', 'globex');
    expect(noReason.code).not.toBe(0);
    expect(noReason.err).toEqual(["tenancy: required option '--reason <text>' not specified"]);
    expect((await run('suspend', 'globex', '--reason', 'unpaid invoice')).out).toBe('tenant/globex suspended');
    expect((await run('resume', 'globex')).out).toBe('tenant/globex active');
    const illegal = await run('resume', 'globex');
    expect(illegal.code).toBe(1);
    expect(illegal.err).toEqual(['tenancy: cannot resume tenant globex: it is active [tenant_active]']);
    const missing = await run('get', 'tenant', 'nope');
    expect(missing.err).toEqual(['tenancy: tenant nope not found [tenant_not_found]']);
  });

  it('creates, lists and revokes keys, and the new key works', async () => {
    const created = await run('keys', 'create', '--tenant', 'acme-corp', '--role', 'viewer', '--name', 'dashboards');
    expect(created.code).toBe(0);
    const token = created.out.split('\n')[1]!;
    expect(token).toMatch(/^tnc_[0-9a-f]{16}_/);
    const asViewer = await main(
      ['get', 'tenants', '-o', 'json'],
      { out: () => undefined, err: () => undefined },
      { TENANCY_URL: plane.url, TENANCY_TOKEN: token },
    );
    expect(asViewer).toBe(0);
    const id = token.slice(4, 20);
    expect((await run('keys', 'list', '--tenant', 'acme-corp')).out).toContain(id);
    expect((await run('keys', 'revoke', id, '--tenant', 'acme-corp')).out).toBe(`revoked key ${id}`);
    const refused = await main(
      ['get', 'tenants'],
      { out: () => undefined, err: () => undefined },
      { TENANCY_URL: plane.url, TENANCY_TOKEN: token },
    );
    expect(refused).toBe(1);
  });

  it('lists and verifies the audit log', async () => {
    const listed = JSON.parse((await run('audit', 'list', '--tenant', 'globex', '-o', 'json')).out);
    expect(listed.map((r: any) => r.action)).toEqual(
      expect.arrayContaining(['tenant.create', 'tenant.suspend', 'tenant.resume']),
    );
    const verified = await run('audit', 'verify');
    expect(verified.code).toBe(0);
    const [summary, ...anchors] = verified.out.split('\n');
    expect(summary).toMatch(/^audit log ok: \d+ records, head \d+ [0-9a-f]{64}, \d+ signed checkpoints$/);
    expect(anchors).toEqual([
      expect.stringMatching(/^anchors: \d+ in file \/.*\/audit-anchors\.jsonl, newest at seq \d+$/),
      expect.stringMatching(
        /^anchors: \d+ in object store \(fs\) tenancy-audit\/anchors\/default\/, newest at seq \d+$/,
      ),
    ]);
  });

  it('refuses an invalid folder with one line and applies nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tenancy-cli-'));
    await cp('examples/tenants', join(dir, 'tenants'), { recursive: true });
    await mkdir(join(dir, 'tenants', 'newco'));
    await writeFile(
      join(dir, 'tenants', 'newco', 'tenant.yaml'),
      'apiVersion: tenancy/v1\nkind: Tenant\nmetadata:\n  id: other-co\nspec:\n  name: Other\n  plan: free\n',
    );
    const before = await countRows(plane, 'tenants');
    const r = await run('apply', '-f', join(dir, 'tenants'));
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toContain('disagrees with its folder tenants/newco/');
    expect(r.err[0]).toContain('[invalid_bundle]');
    await writeFile(join(dir, 'tenants', 'newco', 'tenant.yaml'), 'metadata: [unclosed');
    const yamlErr = await run('apply', '-f', join(dir, 'tenants'));
    expect(yamlErr.err).toHaveLength(1);
    expect(yamlErr.err[0]).toMatch(/tenants\/newco\/tenant.yaml:1:\d+/);
    expect(await countRows(plane, 'tenants')).toBe(before);
  });

  it('refuses YAML aliases to nothing and alias bombs in one line naming file:line:col, before calling the server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tenancy-cli-'));
    const laughs = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...'bcdefg'.split('').map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`),
    ].join('\n');
    const files = {
      'nope.yaml': 'apiVersion: tenancy/v1\nkind: Tenant\n<<: *nope\n',
      'bomb.yaml': laughs,
      'deep.yaml': '['.repeat(3000) + ']'.repeat(3000),
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    await writeFile(
      join(dir, 'key.pem'),
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    const audit = await countRows(plane, 'audit_log');
    for (const name of Object.keys(files)) {
      for (const argv of [
        ['apply', '-f', join(dir, name)],
        ['policy', 'sign', '-f', join(dir, name), '--key', join(dir, 'key.pem')],
      ]) {
        const r = await run(...argv);
        expect(r.code, argv.join(' ')).toBe(1);
        expect(r.err, argv.join(' ')).toHaveLength(1);
        expect(r.err[0]).toMatch(new RegExp(`^tenancy: \\S*${name.replace('.', '\\.')}:\\d+:\\d+: `));
      }
    }
    expect(await countRows(plane, 'audit_log')).toBe(audit);
  });

  it('prints one line and exits non-zero for bad usage and unreachable servers', async () => {
    const badFormat = await run('get', 'tenants', '-o', 'xml');
    expect(badFormat).toMatchObject({
      code: 1,
      err: ['tenancy: unknown output format "xml" (use table, json or yaml)'],
    });
    const unknown = await run('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toHaveLength(1);
    const missingFile = await run('apply', '-f', 'no/such/dir');
    expect(missingFile).toMatchObject({ code: 1, err: ['tenancy: no/such/dir: no such file or directory'] });
    const down = await main(
      ['get', 'tenants'],
      {
        out: () => undefined,
        err: (l) => expect(l).toMatch(/^tenancy: cannot reach the control plane at http:\/\/127\.0\.0\.1:9 /),
      },
      { TENANCY_URL: 'http://127.0.0.1:9', TENANCY_TOKEN: 'x' },
    );
    expect(down).toBe(1);
    const noToken = await main(
      ['get', 'tenants'],
      { out: () => undefined, err: (l) => expect(l).toContain('no credentials') },
      { TENANCY_URL: plane.url, TENANCY_DATA_DIR: '/nonexistent' },
    );
    expect(noToken).toBe(1);
  });
});
