/**
 * Lineage and drift end to end: batches validated all or nothing, stored per tenant and
 * invisible to other tenants, read with filters and cursors, exported as streamed JSON
 * Lines, recorded through the SDK helper; the drift map computed from known records and
 * policy commits, with conflicts from the policy seam; and an approval kind registered by
 * another module (`policyChange`) applied through the gate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyConflict, PolicyConflictSource } from '../src/governance/index.js';
import { addEvent } from '../src/ledger/index.js';
import { TenancyClient } from '../src/sdk/index.js';
import { recordLineage } from '../src/sdk/lineage.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, tenantKey, waitForPhase } from './support/http.js';

const DAY = 86_400_000;
const rec = (over: Record<string, unknown> = {}) => ({
  domain: 'support',
  usecase: 'faq',
  sourceId: 'kb-1',
  queryId: 'q-1',
  chunkId: 'c-1',
  trustScore: 0.8,
  agentId: 'agent-7',
  policyVersion: '1.2.0',
  ...over,
});

/** Conflicts as the policy service would report them; the drift map reads them through this seam only. */
class KnownConflicts implements PolicyConflictSource {
  readonly calls: Array<{ tenantId?: string }> = [];
  constructor(private readonly conflicts: PolicyConflict[]) {}
  async findPolicyConflicts(filter: { tenantId?: string }): Promise<PolicyConflict[]> {
    this.calls.push(filter);
    return this.conflicts.filter((c) => filter.tenantId === undefined || c.tenants.includes(filter.tenantId));
  }
}

describe.each(engines())('lineage and drift on %s', (engine) => {
  let plane: TestPlane;
  const conflicts = new KnownConflicts([
    {
      tenants: ['lin-a', 'lin-b'],
      domainId: 'support',
      usecaseId: 'faq',
      rule: 'pii.redaction',
      detail: 'lin-a redacts emails, lin-b does not',
    },
    {
      tenants: ['lin-b', 'lin-c'],
      domainId: 'sales',
      usecaseId: 'quote',
      rule: 'model.allowlist',
      detail: 'disjoint model allowlists',
    },
  ]);

  beforeAll(async () => {
    plane = await startTestPlane(engine, { listen: true, start: { policyConflicts: conflicts } });
    for (const t of ['lin-a', 'lin-b', 'lin-c']) await createActive(plane, t);
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('stores a batch for its tenant only; another tenant sees none of it and gets 404 for the path', async () => {
    const a = await tenantKey(plane, 'lin-a', 'operator');
    const b = await tenantKey(plane, 'lin-b', 'operator');
    const t = (d: number) => new Date(Date.now() - d * 3_600_000).toISOString();
    const res = await call(
      plane,
      'POST',
      '/v1/tenants/lin-a/lineage',
      {
        records: [
          rec({ timestamp: t(3) }),
          rec({ domain: 'sales', usecase: 'quote', trustScore: 0.4, timestamp: t(2) }),
          rec({ chunkId: undefined, timestamp: t(1) }),
        ],
      },
      { token: a.token },
    );
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().accepted).toBe(3);
    expect(
      (
        await call(
          plane,
          'POST',
          '/v1/tenants/lin-b/lineage',
          { records: [rec({ sourceId: 'b-secret' })] },
          { token: b.token },
        )
      ).statusCode,
    ).toBe(201);

    const mine = (await call(plane, 'GET', '/v1/tenants/lin-a/lineage', undefined, { token: a.token })).json();
    expect(mine.items).toHaveLength(3);
    expect(mine.items.every((r: any) => r.tenantId === 'lin-a')).toBe(true);
    expect(mine.items[0]).toMatchObject({
      domain: 'support',
      usecase: 'faq',
      sourceId: 'kb-1',
      queryId: 'q-1',
      chunkId: 'c-1',
      trustScore: 0.8,
      agentId: 'agent-7',
      policyVersion: '1.2.0',
    });
    expect(mine.items[2].chunkId).toBeNull();
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/lin-b/lineage', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/lin-b/lineage/export', undefined, { token: a.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/lin-b/lineage', { records: [rec()] }, { token: a.token }),
      404,
      'tenant_not_found',
    );
    const exported = await call(plane, 'GET', '/v1/tenants/lin-a/lineage/export', undefined, { token: a.token });
    expect(exported.body).not.toContain('b-secret');
    const audit = (await call(plane, 'GET', '/v1/audit?tenant=lin-a&action=lineage.record')).json().items;
    expect(audit).toEqual([
      expect.objectContaining({ actor: `apikey:${a.id}`, details: expect.objectContaining({ count: 3 }) }),
    ]);
  });

  it('filters by domain, use case and time, pages with a cursor, and exports JSON Lines as a stream', async () => {
    const base = Date.now() - 10 * DAY;
    const batch = Array.from({ length: 25 }, (_, i) =>
      rec({
        domain: i % 2 === 0 ? 'even' : 'odd',
        queryId: `q-${i}`,
        timestamp: new Date(base + i * 60_000).toISOString(),
      }),
    );
    expect((await call(plane, 'POST', '/v1/tenants/lin-c/lineage', { records: batch })).statusCode).toBe(201);
    const even = (await call(plane, 'GET', '/v1/tenants/lin-c/lineage?domain=even&limit=100')).json().items;
    expect(even.map((r: any) => r.queryId)).toEqual(batch.filter((_, i) => i % 2 === 0).map((r) => r.queryId));
    const window = (
      await call(
        plane,
        'GET',
        `/v1/tenants/lin-c/lineage?from=${encodeURIComponent(new Date(base + 5 * 60_000).toISOString())}&to=${encodeURIComponent(new Date(base + 10 * 60_000).toISOString())}`,
      )
    ).json().items;
    expect(window.map((r: any) => r.queryId)).toEqual(['q-5', 'q-6', 'q-7', 'q-8', 'q-9']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = (
        await call(plane, 'GET', `/v1/tenants/lin-c/lineage?limit=10${cursor ? `&cursor=${cursor}` : ''}`)
      ).json();
      seen.push(...page.items.map((r: any) => r.queryId));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(batch.map((r) => r.queryId));

    const res = await plane.app.inject({
      method: 'GET',
      url: '/v1/tenants/lin-c/lineage/export?usecase=faq',
      headers: { authorization: 'Bearer test-admin-token-0123456789abcdef' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = res.body.trimEnd().split('\n');
    expect(lines).toHaveLength(25);
    expect(lines.map((l) => JSON.parse(l).queryId)).toEqual(batch.map((r) => r.queryId));
    // More than one page of the export's reader: streamed page by page in order.
    const many = Array.from({ length: 1000 }, (_, i) =>
      rec({
        domain: 'bulk',
        queryId: `bulk-${String(i).padStart(4, '0')}`,
        timestamp: new Date(base + DAY + i).toISOString(),
      }),
    );
    expect((await call(plane, 'POST', '/v1/tenants/lin-c/lineage', { records: many })).statusCode).toBe(201);
    expect((await call(plane, 'POST', '/v1/tenants/lin-c/lineage', { records: many.slice(0, 5) })).statusCode).toBe(
      201,
    );
    const bulk = await plane.app.inject({
      method: 'GET',
      url: '/v1/tenants/lin-c/lineage/export?domain=bulk',
      headers: { authorization: 'Bearer test-admin-token-0123456789abcdef' },
    });
    const ids = bulk.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).id);
    expect(ids).toHaveLength(1005);
    expect(new Set(ids).size).toBe(1005);
  });

  it("removes a purged tenant's lineage with its other data", async () => {
    await createActive(plane, 'lin-gone', { config: { retentionDays: 0 } });
    expect((await call(plane, 'POST', '/v1/tenants/lin-gone/lineage', { records: [rec(), rec()] })).statusCode).toBe(
      201,
    );
    expect((await call(plane, 'DELETE', '/v1/tenants/lin-gone')).statusCode).toBe(202);
    await waitForPhase(plane, 'lin-gone', 'deleted');
    await plane.controller.idle();
    const left = await plane.database.db
      .selectFrom('lineage_records')
      .select('id')
      .where('tenant_id', '=', 'lin-gone')
      .execute();
    expect(left).toEqual([]);
    const purge = (await call(plane, 'GET', '/v1/audit?tenant=lin-gone&action=tenant.purge')).json().items;
    expect(purge).toEqual([expect.objectContaining({ details: expect.objectContaining({ lineageRecords: 2 }) })]);
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/lin-gone/lineage', { records: [rec()] }),
      409,
      'tenant_deleted',
    );
  });

  it('refuses bad batches and queries with field paths and stores nothing', async () => {
    const rows = await countRows(plane, 'audit_log');
    const count = async () =>
      Number(
        (
          await plane.database.db
            .selectFrom('lineage_records')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const p = expectProblem(
      await call(plane, 'POST', '/v1/tenants/lin-a/lineage', {
        records: [
          rec(),
          rec({ trustScore: 1.5 }),
          rec({ domain: '', timestamp: 'yesterday' }),
          rec({ sourceId: undefined, extra: true }),
          rec({ timestamp: new Date(Date.now() + DAY).toISOString() }),
        ],
      }),
      400,
      'validation_failed',
    );
    expect(p.errors.map((e: any) => e.path).sort()).toEqual(
      [
        '/records/1/trustScore',
        '/records/2/domain',
        '/records/2/timestamp',
        '/records/3/extra',
        '/records/3/sourceId',
        '/records/4/timestamp',
      ].sort(),
    );
    expectProblem(await call(plane, 'POST', '/v1/tenants/lin-a/lineage', { records: [] }), 400, 'validation_failed');
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/lin-a/lineage', { records: Array.from({ length: 1001 }, () => rec()) }),
      400,
      'validation_failed',
    );
    const q = expectProblem(
      await call(plane, 'GET', '/v1/tenants/lin-a/lineage?from=soon&limit=5000&cursor=%%%'),
      400,
      'invalid_query',
    );
    expect(q.errors.map((e: any) => e.path).sort()).toEqual(['/query/from', '/query/limit']);
    expectProblem(await call(plane, 'GET', '/v1/tenants/lin-a/lineage?cursor=bm9wZQ'), 400, 'invalid_cursor');
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/lin-a/lineage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z'),
      400,
      'invalid_query',
    );
    expect(await count()).toBe(before);
    expect(await countRows(plane, 'audit_log')).toBe(rows);
  });

  it('records lineage through the SDK helper, in the scope of a tenant', async () => {
    const key = await tenantKey(plane, 'lin-b', 'operator');
    const client = new TenancyClient({ url: plane.url, token: key.token });
    const ids = await recordLineage(
      client,
      [rec({ queryId: 'sdk-1' }), rec({ queryId: 'sdk-2', timestamp: new Date(Date.now() - 60_000) })],
      { tenantId: 'lin-b', batchSize: 1 },
    );
    expect(ids).toHaveLength(2);
    const items = (await call(plane, 'GET', '/v1/tenants/lin-b/lineage?limit=100')).json().items;
    expect(
      items
        .filter((r: any) => r.queryId.startsWith('sdk-'))
        .map((r: any) => r.id)
        .sort(),
    ).toEqual([...ids].sort());
    await expect(recordLineage(client, [rec({ trustScore: 2 })], { tenantId: 'lin-b' })).rejects.toMatchObject({
      code: 'validation_failed',
      status: 400,
    });
    await expect(recordLineage(client, [rec()], { tenantId: 'lin-a' })).rejects.toMatchObject({
      code: 'tenant_not_found',
      status: 404,
    });
    await expect(recordLineage(client, [rec()])).rejects.toMatchObject({ code: 'tenant_required' });
  });

  it('computes the drift map from known records and policy commits, with conflicts from the policy seam', async () => {
    await createActive(plane, 'drift-x');
    const now = Date.now();
    const at = (daysAgo: number) => new Date(now - daysAgo * DAY).toISOString();
    // Baseline (8..37 days back): 0.8 and 0.9 alternating -> mean 0.85, population stddev 0.05.
    const baseline = Array.from({ length: 20 }, (_, i) =>
      rec({ trustScore: i % 2 === 0 ? 0.8 : 0.9, timestamp: at(10 + i + 0.5) }),
    );
    // Last 7 days: one record a day, 0.5 rising by 0.05 a day -> mean 0.6, slope +0.05/day.
    const week = [6, 5, 4, 3, 2].map((d, i) => rec({ trustScore: 0.5 + 0.05 * i, timestamp: at(d + 0.5) }));
    // Older than the baseline window: ignored.
    const ancient = [rec({ trustScore: 0, timestamp: at(60) })];
    expect(
      (await call(plane, 'POST', '/v1/tenants/drift-x/lineage', { records: [...baseline, ...week, ...ancient] }))
        .statusCode,
    ).toBe(201);
    // Policy commits as the policy service writes them: three this week, one before.
    await plane.database.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 3; i++)
        await addEvent(
          trx,
          { id: 'system:policy', correlationId: null },
          {
            type: 'policy.committed',
            tenantId: 'drift-x',
            payload: { name: `p${i}`, domainId: 'support', usecaseId: 'faq', semver: `1.0.${i}`, version: i + 1 },
          },
        );
      const old = await addEvent(
        trx,
        { id: 'system:policy', correlationId: null },
        { type: 'policy.committed', tenantId: 'drift-x', payload: { name: 'old' } },
      );
      await trx
        .updateTable('outbox')
        .set({ ts: at(8) })
        .where('id', '=', old)
        .execute();
    });

    const drift = (await call(plane, 'GET', '/v1/tenants/drift-x/governance/drift')).json();
    expect(drift).toMatchObject({
      tenantId: 'drift-x',
      policyChanges7d: 3,
      lineage7d: 5,
      averageTrust7d: 0.6,
      baseline: { count: 20, mean: 0.85, stddev: 0.05 },
      driftScore: 5,
      drifting: true,
      conflicts: [],
      conflictsAvailable: true,
    });
    expect(drift.qualityTrend.slopePerDay).toBeCloseTo(0.05, 6);
    expect(drift.qualityTrend.direction).toBe('improving');
    expect(drift.qualityTrend.daily.map((d: any) => d.averageTrust)).toEqual([0.5, 0.55, 0.6, 0.65, 0.7]);

    const a = (await call(plane, 'GET', '/v1/tenants/lin-a/governance/drift')).json();
    expect(a.conflicts).toEqual([
      {
        tenants: ['lin-a', 'lin-b'],
        domainId: 'support',
        usecaseId: 'faq',
        rule: 'pii.redaction',
        detail: 'lin-a redacts emails, lin-b does not',
      },
    ]);
    expect(a.driftScore).toBeNull();

    const all = (await call(plane, 'GET', '/v1/governance/drift?limit=200')).json();
    expect(all.items.map((i: any) => i.tenantId)).toEqual(
      expect.arrayContaining(['drift-x', 'lin-a', 'lin-b', 'lin-c']),
    );
    expect(all.items.find((i: any) => i.tenantId === 'drift-x').driftScore).toBe(5);
    expect(all.conflicts).toHaveLength(2);
    const paged = (await call(plane, 'GET', '/v1/governance/drift?limit=1')).json();
    expect(paged.items).toHaveLength(1);
    expect(paged.next).toBe(paged.items[0].tenantId);

    // A tenant role sees itself only, and conflicts that involve it without the other tenant's id or detail.
    const auditor = await tenantKey(plane, 'lin-a', 'auditor');
    const scoped = (await call(plane, 'GET', '/v1/governance/drift', undefined, { token: auditor.token })).json();
    expect(scoped.items.map((i: any) => i.tenantId)).toEqual(['lin-a']);
    expect(scoped.conflicts).toEqual([
      { tenants: ['lin-a', '(another tenant)'], domainId: 'support', usecaseId: 'faq', rule: 'pii.redaction' },
    ]);
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/drift-x/governance/drift', undefined, { token: auditor.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(await call(plane, 'GET', '/v1/governance/drift?limit=0'), 400, 'invalid_query');
  });

  it('describes the governance routes in OpenAPI, from the schemas that validate', async () => {
    const doc = (await call(plane, 'GET', '/openapi.json', undefined, { token: null })).json();
    for (const path of [
      '/v1/approvals',
      '/v1/approvals/{approvalId}/approve',
      '/v1/approvals/{approvalId}/report.pdf',
      '/v1/tenants/{id}/sovereignty/check',
      '/v1/tenants/{id}/lineage',
      '/v1/tenants/{id}/lineage/export',
      '/v1/governance/drift',
    ])
      expect(doc.paths[path], path).toBeDefined();
    expect(doc.components.schemas.LineageBatch.properties.records.maxItems).toBe(1000);
    expect(doc.components.schemas.TenantSpec.properties.governance).toBeDefined();
    expect(
      doc.paths['/v1/approvals/{approvalId}/report.pdf'].get.responses['200'].content['application/pdf'],
    ).toBeDefined();
  });

  it('applies a change another module put behind the gate through its own named applier', async () => {
    const applied: string[] = [];
    // `policyChange` itself is applied by the policy service; a module names its own applier.
    expect(() => plane.approvals.onApproved('policyChange', async () => ({ result: {}, tenants: [] }))).toThrow(
      /already registered/,
    );
    plane.approvals.onApproved('test.document', async (trx, approval, actor) => {
      // Written in the decision's transaction: the document and the approval commit together.
      await trx
        .insertInto('tenant_documents')
        .values({
          tenant_id: approval.tenantId,
          kind: 'TenantPolicy',
          name: String(approval.change.name),
          spec: JSON.stringify(approval.change.spec) as never,
          source: null,
          updated_at: new Date().toISOString(),
        })
        .execute();
      applied.push(`${approval.id} by ${actor.id}`);
      return { result: { committed: approval.change.name }, tenants: [approval.tenantId] };
    });
    const requested = await plane.database.db.transaction().execute((trx) =>
      plane.approvals.requestApproval(
        trx,
        { id: 'system:policy', correlationId: null },
        {
          tenantId: 'lin-c',
          kind: 'policyChange',
          summary: 'commit policy pii 2.0.0',
          payload: { name: 'pii', spec: { redact: ['email'] } },
          applier: 'test.document',
        },
      ),
    );
    expect(requested).toMatchObject({ status: 'pending', kind: 'policyChange' });
    const owner = await tenantKey(plane, 'lin-c', 'owner');
    const res = await call(plane, 'POST', `/v1/approvals/${requested.id}/approve`, {}, { token: owner.token });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'approved', result: { committed: 'pii' } });
    expect(applied).toEqual([`${requested.id} by apikey:${owner.id}`]);
    expect((await call(plane, 'GET', '/v1/tenants/lin-c/documents')).json().items).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'TenantPolicy', name: 'pii' })]),
    );
  });
});
