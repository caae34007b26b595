/**
 * The tenant API end to end on every engine: create, read, list, patch, lifecycle,
 * delete and purge, apply bundles, idempotency, correlation ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, manifest, waitForPhase } from './support/http.js';

describe.each(engines())('tenant API on %s', (engine) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(engine);
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('creates a tenant that the controller makes active, with the documented shape', async () => {
    const res = await call(plane, 'POST', '/v1/tenants', manifest('alpha', { region: 'eu-west-1' }, { tier: 'gold' }));
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe('/v1/tenants/alpha');
    expect(res.headers.etag).toBe('"1"');
    const created = res.json();
    expect(created).toMatchObject({
      apiVersion: 'tenancy/v1',
      kind: 'Tenant',
      metadata: { id: 'alpha', generation: 1, labels: { tier: 'gold' } },
      spec: { plan: 'pro', profile: 'mt-standard', environments: ['prod'] },
      status: { phase: 'provisioning', observedGeneration: 0 },
    });
    expect(created.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    const active = await waitForPhase(plane, 'alpha', 'active');
    expect(active.status.observedGeneration).toBe(1);
    expect(active.status.conditions).toEqual([
      expect.objectContaining({ type: 'Ready', status: 'True', reason: 'Provisioned' }),
    ]);
    expect(active.metadata.uid).toBe(created.metadata.uid);
  });

  it('refuses a second tenant with the same id', async () => {
    const res = await call(plane, 'POST', '/v1/tenants', manifest('alpha'));
    expectProblem(res, 409, 'tenant_exists');
  });

  it('serves the tenant context with plan defaults overridden by the manifest', async () => {
    await createActive(plane, 'ctx-one', {
      plan: 'free',
      quotas: { maxUsers: 42 },
      features: { sso: true, theme: 'dark' },
    });
    const ctx = (await call(plane, 'GET', '/v1/tenants/ctx-one/context')).json();
    expect(ctx.quotas.maxUsers).toBe(42);
    expect(ctx.quotas.maxProjects).toBe(1);
    expect(ctx.features).toMatchObject({ sso: true, theme: 'dark', auditExport: false });
  });

  it('lists with filters, label selectors and stable cursor pagination', async () => {
    for (const [id, plan, tier] of [
      ['list-a', 'free', 'gold'],
      ['list-b', 'starter', 'silver'],
      ['list-c', 'free', 'silver'],
      ['list-d', 'enterprise', 'gold'],
    ] as const) {
      await createActive(plane, id, { plan, region: 'ap-south-1' }, { tier, group: 'list' });
    }
    const free = (await call(plane, 'GET', '/v1/tenants?plan=free&region=ap-south-1')).json();
    expect(free.items.map((t: any) => t.metadata.id)).toEqual(['list-a', 'list-c']);
    const gold = (await call(plane, 'GET', '/v1/tenants?labelSelector=group%3Dlist,tier%3Dgold')).json();
    expect(gold.items.map((t: any) => t.metadata.id)).toEqual(['list-a', 'list-d']);
    const notGold = (await call(plane, 'GET', '/v1/tenants?labelSelector=group%3Dlist,tier!%3Dgold')).json();
    expect(notGold.items.map((t: any) => t.metadata.id)).toEqual(['list-b', 'list-c']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = (
        await call(plane, 'GET', `/v1/tenants?labelSelector=group&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      ).json();
      seen.push(...page.items.map((t: any) => t.metadata.id));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(['list-a', 'list-b', 'list-c', 'list-d']);
    expectProblem(await call(plane, 'GET', '/v1/tenants?cursor=bogus'), 400, 'invalid_cursor');
    expectProblem(await call(plane, 'GET', '/v1/tenants?labelSelector=a%3D%3Db%3Dc!'), 400, 'invalid_query');
    const bad = expectProblem(
      await call(plane, 'GET', '/v1/tenants?plan=platinum&limit=0&color=red'),
      400,
      'invalid_query',
    );
    expect(bad.errors.map((e: any) => e.path).sort()).toEqual(['/query/color', '/query/limit', '/query/plan']);
  });

  it('patches spec and labels with If-Match, bumping the generation', async () => {
    await createActive(plane, 'patchy');
    const ok = await call(
      plane,
      'PATCH',
      '/v1/tenants/patchy',
      { spec: { plan: 'enterprise', quotas: { maxUsers: 7 } }, metadata: { labels: { team: 'a' } } },
      { headers: { 'if-match': '"1"' } },
    );
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.headers.etag).toBe('"2"');
    expect(ok.json().spec).toMatchObject({ plan: 'enterprise', quotas: { maxUsers: 7 } });
    expect(ok.json().changes.map((c: any) => c.path)).toEqual(['/metadata/labels/team', '/spec/plan', '/spec/quotas']);
    expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/patchy', { spec: { name: 'x' } }, { headers: { 'if-match': '"1"' } }),
      412,
      'precondition_failed',
    );
    expectProblem(
      await call(
        plane,
        'PATCH',
        '/v1/tenants/patchy',
        { spec: { name: 'x' } },
        { headers: { 'if-match': 'yesterday' } },
      ),
      400,
      'invalid_if_match',
    );
    const removal = await call(plane, 'PATCH', '/v1/tenants/patchy', {
      spec: { quotas: null },
      metadata: { labels: { team: null } },
    });
    expect(removal.json().spec.quotas).toBeUndefined();
    expect(removal.json().metadata.labels).toEqual({});
    const immutable = expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/patchy', { metadata: { id: 'other' } }),
      400,
      'validation_failed',
    );
    expect(immutable.errors).toEqual([{ path: '/metadata/id', message: 'is immutable' }]);
    const invalid = expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/patchy', { spec: { plan: 'gold', bogus: 1 } }),
      400,
      'invalid_manifest',
    );
    expect(invalid.errors.map((e: any) => e.path).sort()).toEqual(['/spec/bogus', '/spec/plan']);
    const t = await waitForPhase(plane, 'patchy', 'active');
    expect(t.metadata.generation).toBe(3);
    await plane.controller.idle();
    expect((await call(plane, 'GET', '/v1/tenants/patchy')).json().status.observedGeneration).toBe(3);
  });

  it('runs the lifecycle and answers illegal transitions with 409 naming the phase', async () => {
    await createActive(plane, 'cycle');
    expectProblem(await call(plane, 'POST', '/v1/tenants/cycle/suspend', {}), 400, 'validation_failed');
    const suspended = await call(plane, 'POST', '/v1/tenants/cycle/suspend', { reason: 'unpaid' });
    expect(suspended.json().status).toMatchObject({ phase: 'suspended', reason: 'unpaid' });
    expectProblem(await call(plane, 'POST', '/v1/tenants/cycle/suspend', { reason: 'again' }), 409, 'tenant_suspended');
    expect((await call(plane, 'POST', '/v1/tenants/cycle/resume', {})).json().status.phase).toBe('active');
    await call(plane, 'POST', '/v1/tenants/cycle/archive', {});
    await waitForPhase(plane, 'cycle', 'archived');
    const illegal = expectProblem(await call(plane, 'POST', '/v1/tenants/cycle/resume', {}), 409, 'tenant_archived');
    expect(illegal.phase).toBe('archived');
    expectProblem(await call(plane, 'PATCH', '/v1/tenants/cycle', { spec: { name: 'n' } }), 409, 'tenant_archived');
    await call(plane, 'POST', '/v1/tenants/cycle/restore', {});
    await waitForPhase(plane, 'cycle', 'active');
  });

  it('deletes softly, keeps the id reserved, and purges after retention', async () => {
    await createActive(plane, 'gone-soon', { config: { retentionDays: 0 } });
    await createActive(plane, 'kept-long', { config: { retentionDays: 30 } });
    const del = await call(plane, 'DELETE', '/v1/tenants/gone-soon');
    expect(del.statusCode).toBe(202);
    expect(del.json().status.phase).toBe('deleting');
    await call(plane, 'DELETE', '/v1/tenants/kept-long');
    const kept = await waitForPhase(plane, 'kept-long', 'deleted');
    expect(new Date(kept.status.purgeAfter).getTime() - new Date(kept.status.deletedAt).getTime()).toBe(
      30 * 86_400_000,
    );
    expect(kept.status.purgedAt).toBeUndefined();
    await waitForPhase(plane, 'gone-soon', 'deleted');
    await plane.controller.idle();
    const purged = (await call(plane, 'GET', '/v1/tenants/gone-soon')).json();
    expect(purged.status.purgedAt).toBeDefined();
    expectProblem(await call(plane, 'POST', '/v1/tenants', manifest('gone-soon')), 409, 'tenant_exists');
    expectProblem(
      await call(plane, 'PATCH', '/v1/tenants/gone-soon', { spec: { name: 'back' } }),
      409,
      'tenant_deleted',
    );
    expectProblem(await call(plane, 'DELETE', '/v1/tenants/gone-soon'), 409, 'tenant_deleted');
    const list = (await call(plane, 'GET', '/v1/tenants?limit=500')).json();
    expect(list.items.map((t: any) => t.metadata.id)).not.toContain('gone-soon');
    const deleted = (await call(plane, 'GET', '/v1/tenants?phase=deleted')).json();
    expect(deleted.items.map((t: any) => t.metadata.id)).toEqual(['gone-soon', 'kept-long']);
  });

  it('applies a bundle all or nothing, with a dry-run plan and field diffs', async () => {
    const items = [
      { source: 'tenants/bundle-a/tenant.yaml', manifest: manifest('bundle-a') },
      {
        source: 'tenants/bundle-a/features.yaml',
        manifest: {
          apiVersion: 'tenancy/v1',
          kind: 'TenantFeatures',
          metadata: { tenant: 'bundle-a' },
          spec: { flags: { beta: true } },
        },
      },
      { source: 'tenants/bundle-b/tenant.yaml', manifest: manifest('bundle-b', { plan: 'free' }) },
    ];
    const dry = await call(plane, 'POST', '/v1/apply', { dryRun: true, items });
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json()).toMatchObject({ dryRun: true, applied: false });
    expect(dry.json().items.map((i: any) => `${i.action} ${i.kind}/${i.tenant}`)).toEqual([
      'create Tenant/bundle-a',
      'create Tenant/bundle-b',
      'create TenantFeatures/bundle-a',
    ]);
    expectProblem(await call(plane, 'GET', '/v1/tenants/bundle-a'), 404, 'tenant_not_found');
    const applied = (await call(plane, 'POST', '/v1/apply', { items })).json();
    expect(applied.applied).toBe(true);
    await waitForPhase(plane, 'bundle-b', 'active');
    expect((await call(plane, 'GET', '/v1/tenants/bundle-a/context')).json().features.beta).toBe(true);
    const again = (
      await call(plane, 'POST', '/v1/apply', {
        dryRun: true,
        items: [items[0], { ...items[2], manifest: manifest('bundle-b', { plan: 'pro' }) }],
      })
    ).json();
    expect(again.items).toEqual([
      expect.objectContaining({ tenant: 'bundle-a', action: 'unchanged' }),
      expect.objectContaining({
        tenant: 'bundle-b',
        action: 'update',
        changes: [{ path: '/spec/plan', op: 'replace', from: 'free', to: 'pro' }],
      }),
    ]);
  });

  it('rejects a bundle with any invalid item, reporting every error and applying nothing', async () => {
    const before = { tenants: await countRows(plane, 'tenants'), audit: await countRows(plane, 'audit_log') };
    const res = await call(plane, 'POST', '/v1/apply', {
      items: [
        { manifest: manifest('fine-one') },
        { manifest: manifest('Bad_Id') },
        { source: 'tenants/other/tenant.yaml', manifest: manifest('mismatch') },
        { manifest: manifest('fine-one') },
        { manifest: { apiVersion: 'tenancy/v1', kind: 'Gadget' } },
        { manifest: { ...manifest('unknown-field'), extra: true } },
      ],
    });
    const p = expectProblem(res, 400, 'invalid_bundle');
    expect(p.errors.map((e: any) => e.path)).toEqual([
      '/items/1/manifest/metadata/id',
      '/items/2/manifest/metadata/id',
      '/items/3/manifest/metadata/id',
      '/items/4/manifest/kind',
      '/items/5/manifest/extra',
    ]);
    expect(p.errors[1].message).toContain('disagrees with its folder tenants/other/');
    expect(p.errors[2].message).toContain('duplicate Tenant/fine-one');
    expect({ tenants: await countRows(plane, 'tenants'), audit: await countRows(plane, 'audit_log') }).toEqual(before);
    // A state conflict (updating a deleted tenant) also applies nothing.
    const conflict = await call(plane, 'POST', '/v1/apply', {
      items: [{ manifest: manifest('fine-two') }, { manifest: manifest('gone-soon', { name: 'again' }) }],
    });
    expectProblem(conflict, 409, 'apply_conflict');
    expectProblem(await call(plane, 'GET', '/v1/tenants/fine-two'), 404, 'tenant_not_found');
    const docForDeleted = await call(plane, 'POST', '/v1/apply', {
      items: [
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'TenantFeatures',
            metadata: { tenant: 'gone-soon' },
            spec: { flags: { x: true } },
          },
        },
      ],
    });
    expect(expectProblem(docForDeleted, 409, 'apply_conflict').errors).toEqual([
      { path: '/items/0', message: 'cannot update tenant gone-soon: it is deleted' },
    ]);
  });

  it('accepts YAML manifests', async () => {
    const yaml =
      'apiVersion: tenancy/v1\nkind: Tenant\nmetadata:\n  id: yaml-one\nspec:\n  name: From YAML\n  plan: starter\n';
    const res = await call(plane, 'POST', '/v1/tenants', yaml, { headers: { 'content-type': 'application/yaml' } });
    expect(res.statusCode, res.body).toBe(201);
    const bad = await call(plane, 'POST', '/v1/tenants', 'metadata: [unclosed', {
      headers: { 'content-type': 'application/yaml' },
    });
    expectProblem(bad, 400, 'invalid_yaml');
  });

  it('returns the first response for a repeated Idempotency-Key', async () => {
    const headers = { 'idempotency-key': 'create-idem-1' };
    const first = await call(plane, 'POST', '/v1/tenants', manifest('idem-one'), { headers });
    const second = await call(plane, 'POST', '/v1/tenants', manifest('idem-one'), { headers });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
    expectProblem(
      await call(plane, 'POST', '/v1/tenants', manifest('idem-two'), { headers }),
      422,
      'idempotency_key_reused',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants', manifest('idem-three'), {
        headers: { 'idempotency-key': 'x'.repeat(300) },
      }),
      400,
      'invalid_idempotency_key',
    );
  });

  it('echoes X-Request-Id and records it as the correlation id in the audit log', async () => {
    const res = await call(plane, 'POST', '/v1/tenants', manifest('corr-one'), {
      headers: { 'x-request-id': 'req-abc-123' },
    });
    expect(res.headers['x-request-id']).toBe('req-abc-123');
    const audit = (await call(plane, 'GET', '/v1/audit?tenant=corr-one&action=tenant.create')).json();
    expect(audit.items[0]).toMatchObject({
      correlationId: 'req-abc-123',
      actor: expect.stringMatching(/^apikey:/),
      outcome: 'success',
      target: 'tenant/corr-one',
    });
    const traced = await call(plane, 'GET', '/v1/tenants/corr-one', undefined, {
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    expect(traced.headers['x-request-id']).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('serves health, readiness, metrics, OpenAPI and docs without credentials', async () => {
    expect((await call(plane, 'GET', '/healthz', undefined, { token: null })).json()).toEqual({ status: 'ok' });
    expect((await call(plane, 'GET', '/readyz', undefined, { token: null })).json()).toEqual({
      status: 'ready',
      engine,
    });
    const metrics = await call(plane, 'GET', '/metrics', undefined, { token: null });
    expect(metrics.body).toMatch(/tenancy_tenants\{phase="active"\} \d+/);
    expect(metrics.body).toContain('tenancy_http_requests_total');
    const doc = (await call(plane, 'GET', '/openapi.json', undefined, { token: null })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.schemas.TenantManifest.properties.metadata).toBeDefined();
    expect(doc.components.schemas.TenantSpec.properties.plan.enum).toEqual(['free', 'starter', 'pro', 'enterprise']);
    expect(Object.keys(doc.paths)).toContain('/v1/tenants/{id}/suspend');
    expect(doc.paths['/v1/tenants/{id}/secrets/{name}'].put.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/PutSecret',
    });
    expect((await call(plane, 'GET', '/docs', undefined, { token: null })).body).toContain('/v1/apply');
  });
});
