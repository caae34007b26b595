/**
 * Data sovereignty end to end: malformed `data-sovereignty.yaml` files are refused with
 * field paths; forbidden or not-allowed regions are refused at apply and on moves, young
 * tenants cannot be deleted inside their retention, encryption that falls short is
 * refused, and every refusal changes nothing; the check endpoint answers the same rules.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifestPath } from '../src/tenants/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, manifest, tenantKey } from './support/http.js';

const sovereignty = (tenant: string, spec: Record<string, unknown>) => ({
  apiVersion: 'tenancy/v1',
  kind: 'DataSovereignty',
  metadata: { tenant },
  spec,
});

describe.each(engines())('data sovereignty on %s', (engine) => {
  let plane: TestPlane;
  // A refusal leaves only its own `sovereignty.refuse` denial record, which the snapshot leaves out.
  const refusals = async (tenantId?: string) => {
    let q = plane.database.db.selectFrom('audit_log').selectAll().where('action', '=', 'sovereignty.refuse');
    if (tenantId) q = q.where('tenant_id', '=', tenantId);
    return q.orderBy('seq').execute();
  };
  const snapshot = async () => ({
    tenants: await countRows(plane, 'tenants'),
    docs: await countRows(plane, 'tenant_documents'),
    audit: (await countRows(plane, 'audit_log')) - (await refusals()).length,
    outbox: await countRows(plane, 'outbox'),
  });

  beforeAll(async () => {
    plane = await startTestPlane(engine);
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('refuses a malformed data-sovereignty.yaml from a GitOps folder with field paths, and commits nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sov-'));
    try {
      await mkdir(join(dir, 'tenants', 'sov-bad'), { recursive: true });
      await writeFile(
        join(dir, 'tenants', 'sov-bad', 'tenant.yaml'),
        'apiVersion: tenancy/v1\nkind: Tenant\nmetadata: {id: sov-bad}\nspec: {name: Bad, plan: pro, region: eu-west-1}\n',
      );
      await writeFile(
        join(dir, 'tenants', 'sov-bad', 'data-sovereignty.yaml'),
        [
          'apiVersion: tenancy/v1',
          'kind: DataSovereignty',
          'metadata: {tenant: sov-bad}',
          'spec:',
          '  forbiddenRegions: ["cn-[", "EU*"]',
          '  retention: {dataDays: -3, forever: true}',
          '  encryption: {atRest: rot13, keyRotationDays: 0}',
          '  region: eu-west-1',
          '  allowedRegions: ["us-*"]',
        ].join('\n'),
      );
      const items = await readManifestPath(join(dir, 'tenants'));
      const before = await snapshot();
      const p = expectProblem(await call(plane, 'POST', '/v1/apply', { items }), 400, 'invalid_bundle');
      const doc = items.findIndex((i) => (i.manifest as any).kind === 'DataSovereignty');
      const at = (s: string) => `/items/${doc}/manifest/spec${s}`;
      expect(p.errors.map((e: any) => e.path).sort()).toEqual(
        [
          at('/encryption/atRest'),
          at('/encryption/keyRotationDays'),
          at('/forbiddenRegions/0'),
          at('/forbiddenRegions/1'),
          at('/retention/dataDays'),
          at('/retention/forever'),
        ].sort(),
      );
      expect(p.errors.find((e: any) => e.path === at('/forbiddenRegions/0')).message).toMatch(/bracket|glob/);
      expect(await snapshot()).toEqual(before);
      // A home region that its own rules forbid is a malformed file too.
      const contradiction = expectProblem(
        await call(plane, 'POST', '/v1/apply', {
          items: [{ manifest: sovereignty('sov-bad', { region: 'eu-west-1', allowedRegions: ['us-*'] }) }],
        }),
        400,
        'invalid_bundle',
      );
      expect(contradiction.errors).toEqual([
        { path: '/items/0/manifest/spec/region', message: expect.stringContaining('not in allowedRegions') },
      ]);
      expect(await snapshot()).toEqual(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses provisioning into a forbidden region (glob) at apply, pointing at the region, and commits nothing', async () => {
    const before = await snapshot();
    const res = await call(plane, 'POST', '/v1/apply', {
      items: [
        { manifest: manifest('sov-cn', { region: 'cn-north-1' }) },
        { manifest: sovereignty('sov-cn', { forbiddenRegions: ['cn-*', 'ru-*'] }) },
      ],
    });
    const p = expectProblem(res, 422, 'sovereignty_violation');
    expect(p.errors).toEqual([
      { path: '/items/0/manifest/spec/region', message: expect.stringContaining('forbidden by "cn-*"') },
    ]);
    expect(p.violations).toEqual([
      expect.objectContaining({ code: 'sovereignty_violation', rule: '/spec/forbiddenRegions/0' }),
    ]);
    expect(await snapshot()).toEqual(before);
    // The refusal is audited as a denial of the tenant the bundle item names.
    expect((await refusals('sov-cn')).map((r) => ({ outcome: r.outcome, details: r.details }))).toEqual([
      {
        outcome: 'denied',
        details: expect.objectContaining({
          code: 'sovereignty_violation',
          path: '/v1/apply',
          violations: [
            expect.objectContaining({ path: '/items/0/manifest/spec/region', rule: '/spec/forbiddenRegions/0' }),
          ],
        }),
      },
    ]);
    expect((await call(plane, 'GET', '/v1/tenants/sov-cn')).statusCode).toBe(404);
    // The same bundle in an allowed region goes through.
    const ok = await call(plane, 'POST', '/v1/apply', {
      items: [
        { manifest: manifest('sov-cn', { region: 'eu-west-1' }) },
        { manifest: sovereignty('sov-cn', { forbiddenRegions: ['cn-*', 'ru-*'], allowedRegions: ['eu-*'] }) },
      ],
    });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('refuses moving a tenant out of its allowed regions, and a rule change its current region breaks', async () => {
    await createActive(plane, 'sov-move', { region: 'eu-west-1' });
    expect(
      (
        await call(plane, 'POST', '/v1/apply', {
          items: [{ manifest: sovereignty('sov-move', { allowedRegions: ['eu-*'], forbiddenRegions: ['eu-east-*'] }) }],
        })
      ).statusCode,
    ).toBe(200);
    const before = await snapshot();
    const p = expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/sov-move', { spec: { region: 'us-east-1' } }),
      422,
      'sovereignty_violation',
    );
    expect(p.errors).toEqual([{ path: '/spec/region', message: expect.stringContaining('not in allowedRegions') }]);
    expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/sov-move', { spec: { region: 'eu-east-2' } }),
      422,
      'sovereignty_violation',
    );
    expect((await call(plane, 'GET', '/v1/tenants/sov-move')).json().spec.region).toBe('eu-west-1');
    expect(await snapshot()).toEqual(before);
    // A new rule that the tenant's current region breaks is refused too, pointing at the rule.
    const rule = expectProblem(
      await call(plane, 'POST', '/v1/apply', {
        items: [{ manifest: sovereignty('sov-move', { forbiddenRegions: ['eu-west-*'] }) }],
      }),
      422,
      'sovereignty_violation',
    );
    expect(rule.errors[0].path).toBe('/items/0/manifest/spec/forbiddenRegions/0');
    expect(await snapshot()).toEqual(before);
    const moved = await call(plane, 'PATCH', '/v1/tenants/sov-move', { spec: { region: 'eu-central-1' } });
    expect(moved.statusCode, moved.body).toBe(200);
  });

  it('refuses deleting a tenant younger than retention.dataDays with retention_violation', async () => {
    await createActive(plane, 'sov-keep');
    expect(
      (
        await call(plane, 'POST', '/v1/apply', {
          items: [{ manifest: sovereignty('sov-keep', { retention: { dataDays: 30, logsDays: 7 } }) }],
        })
      ).statusCode,
    ).toBe(200);
    const before = await snapshot();
    const p = expectProblem(await call(plane, 'DELETE', '/v1/tenants/sov-keep'), 409, 'retention_violation');
    expect(p.detail).toContain('30 days');
    expect((await call(plane, 'GET', '/v1/tenants/sov-keep')).json().status.phase).toBe('active');
    expect(await snapshot()).toEqual(before);
    // Backdate the tenant past its retention: now it may go.
    await plane.database.db
      .updateTable('tenants')
      .set({ created_at: new Date(Date.now() - 31 * 86_400_000).toISOString() })
      .where('id', '=', 'sov-keep')
      .execute();
    expect((await call(plane, 'DELETE', '/v1/tenants/sov-keep')).statusCode).toBe(202);
  });

  it('refuses encryption that falls short of the rules (at rest, key rotation, in transit)', async () => {
    await createActive(plane, 'sov-enc', { plan: 'pro', config: { encryption: 'enhanced', keyRotationDays: 30 } });
    const rules = sovereignty('sov-enc', { encryption: { atRest: 'enhanced', keyRotationDays: 30, inTransit: true } });
    expect((await call(plane, 'POST', '/v1/apply', { items: [{ manifest: rules }] })).statusCode).toBe(200);
    const before = await snapshot();
    const weaker = expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/sov-enc', {
        spec: { config: { encryption: 'standard', keyRotationDays: 90 } },
      }),
      422,
      'encryption_mismatch',
    );
    expect(weaker.errors.map((e: any) => e.path).sort()).toEqual([
      '/spec/config/encryption',
      '/spec/config/keyRotationDays',
    ]);
    const hook = expectProblem(
      await call(plane, 'POST', '/v1/webhooks', {
        tenantId: 'sov-enc',
        url: 'http://93.184.215.14/hook',
        enabled: false,
      }),
      422,
      'encryption_mismatch',
    );
    expect(hook.errors).toEqual([{ path: '/url', message: expect.stringContaining('TLS') }]);
    expect(await snapshot()).toEqual(before);
    expect(
      (
        await call(plane, 'POST', '/v1/webhooks', {
          tenantId: 'sov-enc',
          url: 'https://93.184.215.14/hook',
          enabled: false,
        })
      ).statusCode,
    ).toBe(201);
    // An st-byoc database URL is the tenant's data in transit: it must require TLS.
    expect(
      (
        await call(plane, 'POST', '/v1/apply', {
          items: [
            { manifest: manifest('sov-byoc', { profile: 'st-byoc', byoc: { databaseSecret: 'db-url' } }) },
            { manifest: sovereignty('sov-byoc', { encryption: { inTransit: true } }) },
          ],
        })
      ).statusCode,
    ).toBe(200);
    const plain = expectProblem(
      await call(plane, 'PUT', '/v1/tenants/sov-byoc/secrets/db-url', {
        value: 'postgres://app:pw@db.example.com:5432/app',
      }),
      422,
      'encryption_mismatch',
    );
    expect(plain.errors).toEqual([{ path: '/value', message: expect.stringContaining('not a TLS connection') }]);
    expect((await call(plane, 'GET', '/v1/tenants/sov-byoc/secrets')).json().items).toEqual([]);
    // Other secrets of the tenant are not database URLs.
    expect(
      (await call(plane, 'PUT', '/v1/tenants/sov-byoc/secrets/other', { value: 'http://not-a-url-rule' })).statusCode,
    ).toBe(201);
    // A tenant on plan defaults (pro: keys rotate every 90 days) cannot take a 30-day rule.
    await createActive(plane, 'sov-enc2', { plan: 'pro' });
    const p = expectProblem(
      await call(plane, 'POST', '/v1/apply', {
        items: [{ manifest: sovereignty('sov-enc2', { encryption: { keyRotationDays: 30 } }) }],
      }),
      422,
      'encryption_mismatch',
    );
    expect(p.errors[0].path).toBe('/items/0/manifest/spec/encryption/keyRotationDays');
  });

  it('answers POST /sovereignty/check with the same rules, and refuses bad checks', async () => {
    await createActive(plane, 'sov-check', { region: 'eu-west-1', config: { encryption: 'enhanced' } });
    const rules = sovereignty('sov-check', {
      region: 'eu-west-1',
      allowedRegions: ['eu-*'],
      forbiddenRegions: ['eu-east-*'],
      crossBorderTransfer: 'deny',
      retention: { dataDays: 365, backupsDays: 30 },
      encryption: { atRest: 'enhanced', inTransit: true },
    });
    const apply = await call(plane, 'POST', '/v1/apply', { items: [{ manifest: rules }] });
    expect(apply.statusCode, apply.body).toBe(200);
    const check = async (body: unknown) => {
      const res = await call(plane, 'POST', '/v1/tenants/sov-check/sovereignty/check', body);
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    expect(await check({ operation: 'move', region: 'eu-central-1' })).toMatchObject({ allowed: true, violations: [] });
    expect(await check({ operation: 'move', region: 'eu-east-1' })).toMatchObject({
      allowed: false,
      violations: [{ code: 'sovereignty_violation', path: '/region', rule: '/spec/forbiddenRegions/0' }],
    });
    expect(await check({ operation: 'provision', region: 'us-east-1', encryption: 'standard' })).toMatchObject({
      allowed: false,
      violations: [
        { code: 'sovereignty_violation', path: '/region' },
        { code: 'encryption_mismatch', path: '/encryption', rule: '/spec/encryption/atRest' },
      ],
    });
    expect(await check({ operation: 'provision' })).toMatchObject({ allowed: true });
    expect(await check({ operation: 'delete' })).toMatchObject({
      allowed: false,
      violations: [{ code: 'retention_violation', path: '/metadata/createdAt' }],
    });
    expect(
      await check({
        operation: 'delete',
        dataClass: 'backups',
        createdAt: new Date(Date.now() - 40 * 86_400_000).toISOString(),
      }),
    ).toMatchObject({ allowed: true });
    expect(await check({ operation: 'delete', dataClass: 'logs' })).toMatchObject({ allowed: true });
    expect(await check({ operation: 'store', atRest: 'standard' })).toMatchObject({
      allowed: false,
      violations: [{ code: 'encryption_mismatch', path: '/atRest' }],
    });
    const transfer = await check({ operation: 'transfer', region: 'us-east-1', url: 'http://sink.example.com/' });
    expect(transfer.violations.map((v: any) => [v.code, v.rule])).toEqual([
      ['sovereignty_violation', '/spec/allowedRegions'],
      ['sovereignty_violation', '/spec/crossBorderTransfer'],
      ['encryption_mismatch', '/spec/encryption/inTransit'],
    ]);
    expect(await check({ operation: 'transfer', region: 'eu-west-1', url: 'https://sink.example.com/' })).toMatchObject(
      { allowed: true },
    );

    const audit = await countRows(plane, 'audit_log');
    const bad = expectProblem(
      await call(plane, 'POST', '/v1/tenants/sov-check/sovereignty/check', { operation: 'teleport' }),
      400,
      'validation_failed',
    );
    expect(bad.errors[0].path).toBe('/operation');
    const bad2 = expectProblem(
      await call(plane, 'POST', '/v1/tenants/sov-check/sovereignty/check', { operation: 'move', region: 'Mars Base' }),
      400,
      'validation_failed',
    );
    expect(bad2.errors[0].path).toBe('/region');
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/sov-check/sovereignty/check', { operation: 'transfer' }),
      400,
      'validation_failed',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/nobody-here/sovereignty/check', { operation: 'move' }),
      404,
      'tenant_not_found',
    );
    expect(await countRows(plane, 'audit_log')).toBe(audit);
  });

  it('answers random sovereignty files, checks, lineage batches and decisions with 4xx (never 5xx) and changes nothing when it refuses', async () => {
    await createActive(plane, 'sov-fuzz');
    const lineageRows = async () =>
      Number(
        (
          await plane.database.db
            .selectFrom('lineage_records')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const value = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer({ min: -5, max: 400 }),
      fc.double({ noNaN: true }),
      fc.string({ maxLength: 12 }),
      fc.constantFrom('cn-*', 'eu-[', 'eu-west-1', 'tenant-key', 'delete', 'move', 'transfer', '2026-01-01T00:00:00Z'),
    );
    const field = fc.constantFrom(
      'region',
      'allowedRegions',
      'forbiddenRegions',
      'retention',
      'encryption',
      'operation',
      'records',
      'trustScore',
      'domain',
      'dataDays',
      'atRest',
      'reason',
      'url',
    );
    const body = fc.dictionary(
      field,
      fc.oneof(value, fc.array(value, { maxLength: 3 }), fc.dictionary(field, value, { maxKeys: 3 })),
      { maxKeys: 4 },
    );
    const { approval } =
      (
        await call(plane, 'PATCH', '/v1/tenants/sov-fuzz', {
          spec: { governance: { approvals: { require: ['featureEnable'] } } },
        })
      ).json() ?? {};
    expect(approval).toBeUndefined();
    const pending = (
      await call(plane, 'PATCH', '/v1/tenants/sov-fuzz', { spec: { features: { fuzzed: true } } })
    ).json().approval;
    const owner = await tenantKey(plane, 'sov-fuzz', 'owner');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('apply', 'check', 'lineage', 'decide'), body, async (target, b) => {
        // The controller reconciles what earlier runs changed (an audit record and an event
        // each): let it finish, so that only this call's effects are counted.
        await plane.controller.idle();
        const before = { ...(await snapshot()), lineage: await lineageRows() };
        const res =
          target === 'apply'
            ? await call(plane, 'POST', '/v1/apply', { items: [{ manifest: sovereignty('sov-fuzz', b) }] })
            : target === 'check'
              ? await call(plane, 'POST', '/v1/tenants/sov-fuzz/sovereignty/check', b)
              : target === 'lineage'
                ? await call(plane, 'POST', '/v1/tenants/sov-fuzz/lineage', b)
                : await call(plane, 'POST', `/v1/approvals/${pending.id}/reject`, b, { token: owner.token });
        expect(res.statusCode, res.body).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          const after = { ...(await snapshot()), lineage: await lineageRows() };
          // A refused call may only add its own denial record to the audit log.
          expect({ ...after, audit: before.audit }).toEqual(before);
          expect(after.audit - before.audit).toBeLessThanOrEqual(1);
        } else if (target === 'apply') {
          // Valid random rules were stored: reset them for the next run.
          await plane.database.db.deleteFrom('tenant_documents').where('tenant_id', '=', 'sov-fuzz').execute();
        }
      }),
      { numRuns: 60 },
    );
    expect(['pending', 'rejected']).toContain((await call(plane, 'GET', `/v1/approvals/${pending.id}`)).json().status);
    expect((await call(plane, 'GET', '/v1/tenants/sov-fuzz')).json().spec.features?.fuzzed).toBeUndefined();
  });
});
