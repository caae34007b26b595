/**
 * The audit log on every engine: written in the writing transaction, append-only in the
 * database, and any edit, deletion, insertion, reordering or truncation is found.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_INTERVAL, recordHash, type AuditRecord } from '../src/governance/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, manifest } from './support/http.js';

describe.each(engines())('audit log on %s', (engine) => {
  let plane: TestPlane;
  let snapshot: any[];
  let checkpoints: any[];

  const restore = async () => {
    const db = plane.database.db;
    await sql`alter table audit_log disable trigger user`.execute(db);
    await db.deleteFrom('audit_log').execute();
    for (const row of snapshot) await db.insertInto('audit_log').values({ ...row, details: JSON.stringify(row.details) } as never).execute();
    await db.deleteFrom('audit_checkpoints').execute();
    for (const row of checkpoints) await db.insertInto('audit_checkpoints').values(row).execute();
    await sql`alter table audit_log enable trigger user`.execute(db);
  };
  const tamper = async (fn: () => Promise<unknown>) => {
    await sql`alter table audit_log disable trigger user`.execute(plane.database.db);
    try {
      await fn();
    } finally {
      await sql`alter table audit_log enable trigger user`.execute(plane.database.db);
    }
  };
  const verify = async () => (await call(plane, 'GET', '/v1/audit/verify')).json();

  beforeAll(async () => {
    plane = await startTestPlane(engine);
    for (let i = 0; i < 40; i++) await call(plane, 'POST', '/v1/tenants', manifest(`audited-${i}`));
    await plane.controller.idle();
    for (let i = 0; i < 40; i++) await call(plane, 'PATCH', `/v1/tenants/audited-${i}`, { spec: { name: `renamed ${i}` } });
    await plane.controller.idle();
    snapshot = await plane.database.db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
    checkpoints = await plane.database.db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute();
  });
  afterAll(async () => {
    await plane?.stop();
  });
  beforeEach(async () => {
    await restore();
  });

  it('verifies the intact chain, with signed checkpoints', async () => {
    expect(snapshot.length).toBeGreaterThan(CHECKPOINT_INTERVAL);
    const result = await verify();
    expect(result).toMatchObject({ ok: true, records: snapshot.length, checkpoints: Math.floor(snapshot.length / CHECKPOINT_INTERVAL) });
    expect(result.head).toEqual({ seq: snapshot.length, hash: snapshot[snapshot.length - 1].hash });
    // Small batches exercise the prefetching walk across many pages.
    expect(await plane.audit.verify(7)).toEqual(result);
  });

  it('rejects UPDATE, DELETE and TRUNCATE in the database itself', async () => {
    const db = plane.database.db;
    await expect(db.updateTable('audit_log').set({ actor: 'someone else' }).where('seq', '=', 3 as never).execute()).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom('audit_log').where('seq', '=', 3 as never).execute()).rejects.toThrow(/append-only/);
    await expect(sql`truncate audit_log`.execute(db)).rejects.toThrow(/append-only/);
    expect((await verify()).ok).toBe(true);
  });

  it('finds an edited record', async () => {
    await tamper(() => sql`update audit_log set details = '{"plan":"enterprise"}'::jsonb where seq = 7`.execute(plane.database.db));
    expect(await verify()).toMatchObject({ ok: false, seq: 7, reason: expect.stringContaining('altered') });
  });

  it('finds a deleted record', async () => {
    await tamper(() => sql`delete from audit_log where seq = 12`.execute(plane.database.db));
    expect(await verify()).toMatchObject({ ok: false, seq: 12, reason: expect.stringContaining('missing') });
    expect(await plane.audit.verify(5)).toMatchObject({ ok: false, seq: 12 });
  });

  it('finds an inserted record, even one hashed to link to its predecessor', async () => {
    await tamper(async () => {
      const db = plane.database.db;
      await sql`update audit_log set seq = -seq - 1 where seq >= 20`.execute(db);
      await sql`update audit_log set seq = -seq where seq < 0`.execute(db);
      const prev = snapshot.find((r) => Number(r.seq) === 19)!;
      const forged: Omit<AuditRecord, 'prevHash' | 'hash'> = { seq: 20, id: '01900000-0000-7000-8000-000000000001', ts: new Date().toISOString(), actor: 'apikey:forged', action: 'tenant.update', target: 'tenant/audited-1', tenantId: 'audited-1', correlationId: null, outcome: 'success', details: {} };
      await db.insertInto('audit_log').values({ seq: 20, id: forged.id, ts: forged.ts, actor: forged.actor, action: forged.action, target: forged.target, tenant_id: forged.tenantId, correlation_id: null, outcome: 'success', details: '{}', prev_hash: prev.hash, hash: recordHash(prev.hash, forged) } as never).execute();
    });
    expect(await verify()).toMatchObject({ ok: false, seq: 21, reason: expect.stringContaining('does not link') });
  });

  it('finds reordered records', async () => {
    await tamper(async () => {
      const db = plane.database.db;
      await sql`update audit_log set seq = -1 where seq = 30`.execute(db);
      await sql`update audit_log set seq = 30 where seq = 31`.execute(db);
      await sql`update audit_log set seq = 31 where seq = -1`.execute(db);
    });
    expect(await verify()).toMatchObject({ ok: false, seq: 30 });
  });

  it('finds a truncated tail that a signed checkpoint covered', async () => {
    await tamper(() => sql`delete from audit_log where seq > ${CHECKPOINT_INTERVAL - 5}`.execute(plane.database.db));
    expect(await verify()).toMatchObject({ ok: false, reason: expect.stringContaining('signed checkpoint covers') });
  });

  it('finds a whole chain recomputed by someone without the signing key', async () => {
    await tamper(async () => {
      const db = plane.database.db;
      const rows = await db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
      let prev = '0'.repeat(64);
      await sql`delete from audit_log`.execute(db);
      for (const row of rows) {
        const r = { seq: Number(row.seq), id: row.id, ts: new Date(row.ts).toISOString(), actor: Number(row.seq) === 10 ? 'apikey:forger' : row.actor, action: row.action, target: row.target, tenantId: row.tenant_id, correlationId: row.correlation_id, outcome: row.outcome, details: row.details as Record<string, unknown> };
        const hash = recordHash(prev, r);
        await db.insertInto('audit_log').values({ ...row, actor: r.actor, details: JSON.stringify(row.details), prev_hash: prev, hash } as never).execute();
        prev = hash;
      }
    });
    expect(await verify()).toMatchObject({ ok: false, seq: CHECKPOINT_INTERVAL, reason: expect.stringContaining('signed checkpoint') });
  });

  it('makes the change fail when its audit record cannot be written', async () => {
    const db = plane.database.db;
    await sql`alter table audit_log add constraint no_creates check (action <> 'tenant.create') not valid`.execute(db);
    try {
      const before = await countRows(plane, 'tenants');
      const res = await call(plane, 'POST', '/v1/tenants', manifest('unaudited'));
      expectProblem(res, 500, 'internal_error');
      expect(res.body).not.toContain('no_creates');
      expect(await countRows(plane, 'tenants')).toBe(before);
      expect(await countRows(plane, 'outbox')).toBe(await countRows(plane, 'outbox'));
      expectProblem(await call(plane, 'GET', '/v1/tenants/unaudited'), 404, 'tenant_not_found');
    } finally {
      await sql`alter table audit_log drop constraint no_creates`.execute(db);
    }
  });

  it('filters records by tenant, actor, action and time', async () => {
    await createActive(plane, 'filtered');
    const since = snapshot[snapshot.length - 1].ts.toISOString?.() ?? new Date(snapshot[snapshot.length - 1].ts).toISOString();
    const items = (await call(plane, 'GET', `/v1/audit?tenant=filtered&since=${encodeURIComponent(since)}`)).json().items;
    expect(items.map((r: any) => r.action)).toEqual(['tenant.create', 'tenant.provisioned']);
    const byActor = (await call(plane, 'GET', '/v1/audit?actor=system:controller&action=tenant.provisioned&tenant=filtered')).json().items;
    expect(byActor).toHaveLength(1);
    const none = (await call(plane, 'GET', '/v1/audit?tenant=filtered&until=2000-01-01T00:00:00Z')).json().items;
    expect(none).toEqual([]);
    const p = expectProblem(await call(plane, 'GET', '/v1/audit?since=yesterday&limit=5000'), 400, 'invalid_query');
    expect(p.errors.map((e: any) => e.path).sort()).toEqual(['/query/limit', '/query/since']);
  });
});
