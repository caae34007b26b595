/**
 * The audit log on every engine: written in the writing transaction, append-only in the
 * database (records and checkpoints), and any edit, deletion, insertion, reordering or
 * truncation is found; so is a rewrite by whoever owns the database (checkpoints deleted,
 * the chain re-hashed, a plain-hashed record appended), against the anchors outside it.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, CHECKPOINT_INTERVAL, recordHash, type AuditRecord } from '../src/ledger/index.js';
import { openDatabase, type Database } from '../src/infra/sql/index.js';
import { loadSigningKeys } from '../src/keys/index.js';
import { engines, startTestPlane, type EngineName, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, manifest } from './support/http.js';
import { startS3 } from './support/s3.js';
import type { Schema } from '../src/schema.js';

const ANCHOR_BUCKET = 'tenancy-audit';
const ANCHOR_PREFIX = 'anchors/default/';

/** Run `fn` with the append-only triggers off, as the owner of the tables could. */
async function asOwner(plane: TestPlane, fn: () => Promise<unknown>): Promise<void> {
  const db = plane.database.db;
  await sql`alter table audit_log disable trigger user`.execute(db);
  await sql`alter table audit_checkpoints disable trigger user`.execute(db);
  try {
    await fn();
  } finally {
    await sql`alter table audit_log enable trigger user`.execute(db);
    await sql`alter table audit_checkpoints enable trigger user`.execute(db);
  }
}

/** Re-hash every record with plain SHA-256, as someone with only the database can. */
async function rehashChain(plane: TestPlane, change: (row: any) => any = (row) => row): Promise<void> {
  const db = plane.database.db;
  const rows = await db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
  let prev = '0'.repeat(64);
  await sql`delete from audit_log`.execute(db);
  for (const original of rows) {
    const row = change(original);
    const r = {
      seq: Number(row.seq),
      id: row.id,
      ts: new Date(row.ts).toISOString(),
      actor: row.actor,
      action: row.action,
      target: row.target,
      tenantId: row.tenant_id,
      correlationId: row.correlation_id,
      outcome: row.outcome,
      details: row.details as Record<string, unknown>,
    };
    const hash = recordHash(prev, r);
    await db
      .insertInto('audit_log')
      .values({ ...row, details: JSON.stringify(row.details), prev_hash: prev, hash } as never)
      .execute();
    prev = hash;
  }
}

/** A record after the head, linked and hashed the plain way (what the chain was before it was keyed). */
async function appendPlainRecord(plane: TestPlane): Promise<number> {
  const db = plane.database.db;
  const head = await db.selectFrom('audit_log').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
  const seq = Number(head.seq) + 1;
  const forged: Omit<AuditRecord, 'prevHash' | 'hash'> = {
    seq,
    id: `01900000-0000-7000-8000-${randomBytes(6).toString('hex')}`,
    ts: new Date().toISOString(),
    actor: 'apikey:forged',
    action: 'apikey.create',
    target: 'apikey/forged',
    tenantId: null,
    correlationId: null,
    outcome: 'success',
    details: { role: 'platform-admin' },
  };
  await db
    .insertInto('audit_log')
    .values({
      seq,
      id: forged.id,
      ts: forged.ts,
      actor: forged.actor,
      action: forged.action,
      target: forged.target,
      tenant_id: null,
      correlation_id: null,
      outcome: 'success',
      details: JSON.stringify(forged.details),
      prev_hash: head.hash,
      hash: recordHash(head.hash, forged),
    } as never)
    .execute();
  return seq;
}

describe.each(engines())('audit log on %s', (engine) => {
  let plane: TestPlane;
  let snapshot: any[];
  let checkpoints: any[];
  let anchorFile: string;
  let anchorText: string | undefined;
  let anchorKeys: Set<string>;

  const anchorObjects = async () =>
    (await plane.objects.list(ANCHOR_BUCKET, { prefix: ANCHOR_PREFIX, limit: 100_000 })).items.map((o) => o.key);
  const restore = async () => {
    await asOwner(plane, async () => {
      const db = plane.database.db;
      await db.deleteFrom('audit_log').execute();
      for (const row of snapshot)
        await db
          .insertInto('audit_log')
          .values({ ...row, details: JSON.stringify(row.details) } as never)
          .execute();
      await db.deleteFrom('audit_checkpoints').execute();
      for (const row of checkpoints) await db.insertInto('audit_checkpoints').values(row).execute();
    });
    if (anchorText === undefined) await rm(anchorFile, { force: true });
    else await writeFile(anchorFile, anchorText);
    for (const key of await anchorObjects()) if (!anchorKeys.has(key)) await plane.objects.delete(ANCHOR_BUCKET, key);
  };
  const verify = async () => (await call(plane, 'GET', '/v1/audit/verify')).json();

  beforeAll(async () => {
    // No timer: anchors come from every 100 records, and from the explicit checkpoint below.
    plane = await startTestPlane(engine, { start: { auditAnchorIntervalMs: 0 } });
    anchorFile = join(plane.dataDir, 'audit-anchors.jsonl');
    for (let i = 0; i < 40; i++) await call(plane, 'POST', '/v1/tenants', manifest(`audited-${i}`));
    await plane.controller.idle();
    for (let i = 0; i < 40; i++)
      await call(plane, 'PATCH', `/v1/tenants/audited-${i}`, { spec: { name: `renamed ${i}` } });
    await plane.controller.idle();
    await plane.audit.checkpoint();
    snapshot = await plane.database.db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
    checkpoints = await plane.database.db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute();
    anchorText = await readFile(anchorFile, 'utf8').catch(() => undefined);
    anchorKeys = new Set(await anchorObjects());
  }, 180_000);
  afterAll(async () => {
    await plane?.stop();
  });
  beforeEach(async () => {
    await restore();
  });

  it('verifies the intact chain, with signed checkpoints, against the anchors outside the database', async () => {
    expect(snapshot.length).toBeGreaterThan(CHECKPOINT_INTERVAL);
    const result = await verify();
    expect(result).toMatchObject({ ok: true, records: snapshot.length, checkpoints: checkpoints.length, keyedFrom: 1 });
    expect(checkpoints.map((c) => Number(c.seq))).toEqual(
      expect.arrayContaining([1, CHECKPOINT_INTERVAL, snapshot.length]),
    );
    expect(result.head).toEqual({ seq: snapshot.length, hash: snapshot[snapshot.length - 1].hash });
    expect(result.anchors).toEqual([
      { where: `file ${anchorFile}`, count: expect.any(Number), newestSeq: snapshot.length },
      {
        where: `object store (fs) ${ANCHOR_BUCKET}/${ANCHOR_PREFIX}`,
        count: anchorKeys.size,
        newestSeq: snapshot.length,
      },
    ]);
    expect(result.anchors[0].count).toBe(anchorKeys.size);
    // Each anchor is a line in the file, an object, and an event.
    const lines = anchorText!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[lines.length - 1]).toMatchObject({
      seq: snapshot.length,
      hash: snapshot[snapshot.length - 1].hash,
      keyedFrom: 1,
    });
    const events = await plane.database.db
      .selectFrom('outbox')
      .selectAll()
      .where('type', '=', 'audit.checkpoint')
      .orderBy('seq')
      .execute();
    expect(events.map((e) => (e.payload as { seq: number }).seq)).toEqual(lines.map((l) => l.seq));
    // Small batches exercise the prefetching walk across many pages.
    expect(await plane.audit.verify(7)).toEqual(result);
  });

  it('rejects UPDATE, DELETE and TRUNCATE of records and checkpoints in the database itself', async () => {
    const db = plane.database.db;
    await expect(
      db
        .updateTable('audit_log')
        .set({ actor: 'someone else' })
        .where('seq', '=', 3 as never)
        .execute(),
    ).rejects.toThrow(/audit_log is append-only/);
    await expect(
      db
        .deleteFrom('audit_log')
        .where('seq', '=', 3 as never)
        .execute(),
    ).rejects.toThrow(/audit_log is append-only/);
    await expect(sql`truncate audit_log`.execute(db)).rejects.toThrow(/audit_log is append-only/);
    await expect(
      db
        .updateTable('audit_checkpoints')
        .set({ hash: '0'.repeat(64) })
        .where('seq', '=', CHECKPOINT_INTERVAL as never)
        .execute(),
    ).rejects.toThrow(/audit_checkpoints is append-only/);
    await expect(db.deleteFrom('audit_checkpoints').execute()).rejects.toThrow(
      /audit_checkpoints is append-only: DELETE/,
    );
    await expect(sql`truncate audit_checkpoints`.execute(db)).rejects.toThrow(
      /audit_checkpoints is append-only: TRUNCATE/,
    );
    expect(await db.selectFrom('audit_checkpoints').select('seq').execute()).toHaveLength(checkpoints.length);
    expect((await verify()).ok).toBe(true);
  });

  it('finds an edited record', async () => {
    await asOwner(plane, () =>
      sql`update audit_log set details = '{"plan":"enterprise"}'::jsonb where seq = 7`.execute(plane.database.db),
    );
    expect(await verify()).toMatchObject({ ok: false, seq: 7, reason: expect.stringContaining('altered') });
  });

  it('finds a deleted record', async () => {
    await asOwner(plane, () => sql`delete from audit_log where seq = 12`.execute(plane.database.db));
    expect(await verify()).toMatchObject({ ok: false, seq: 12, reason: expect.stringContaining('missing') });
    expect(await plane.audit.verify(5)).toMatchObject({ ok: false, seq: 12 });
  });

  it('finds an inserted record, even one hashed to link to its predecessor', async () => {
    await asOwner(plane, async () => {
      const db = plane.database.db;
      await sql`update audit_log set seq = -seq - 1 where seq >= 20`.execute(db);
      await sql`update audit_log set seq = -seq where seq < 0`.execute(db);
      const prev = snapshot.find((r) => Number(r.seq) === 19)!;
      const forged: Omit<AuditRecord, 'prevHash' | 'hash'> = {
        seq: 20,
        id: '01900000-0000-7000-8000-000000000001',
        ts: new Date().toISOString(),
        actor: 'apikey:forged',
        action: 'tenant.update',
        target: 'tenant/audited-1',
        tenantId: 'audited-1',
        correlationId: null,
        outcome: 'success',
        details: {},
      };
      await db
        .insertInto('audit_log')
        .values({
          seq: 20,
          id: forged.id,
          ts: forged.ts,
          actor: forged.actor,
          action: forged.action,
          target: forged.target,
          tenant_id: forged.tenantId,
          correlation_id: null,
          outcome: 'success',
          details: '{}',
          prev_hash: prev.hash,
          hash: recordHash(prev.hash, forged),
        } as never)
        .execute();
    });
    // Its link is plain SHA-256 where the chain is keyed: no one without the audit key can make one that fits.
    expect(await verify()).toMatchObject({
      ok: false,
      seq: 20,
      reason: expect.stringContaining('without the audit key'),
    });
  });

  it('finds reordered records', async () => {
    await asOwner(plane, async () => {
      const db = plane.database.db;
      await sql`update audit_log set seq = -1 where seq = 30`.execute(db);
      await sql`update audit_log set seq = 30 where seq = 31`.execute(db);
      await sql`update audit_log set seq = 31 where seq = -1`.execute(db);
    });
    expect(await verify()).toMatchObject({ ok: false, seq: 30 });
  });

  it('finds a truncated tail that a signed checkpoint covered', async () => {
    await asOwner(plane, () =>
      sql`delete from audit_log where seq > ${CHECKPOINT_INTERVAL - 5}`.execute(plane.database.db),
    );
    expect(await verify()).toMatchObject({ ok: false, reason: expect.stringContaining('signed checkpoint') });
  });

  it('finds a whole chain recomputed by someone without the signing key', async () => {
    await asOwner(plane, () =>
      rehashChain(plane, (row) => (Number(row.seq) === 10 ? { ...row, actor: 'apikey:forger' } : row)),
    );
    expect(await verify()).toMatchObject({
      ok: false,
      seq: 1,
      reason: expect.stringContaining('without the audit key'),
    });
  });

  it('finds a rewrite by the database owner: every checkpoint deleted and the whole chain re-hashed', async () => {
    await asOwner(plane, async () => {
      await sql`delete from audit_checkpoints`.execute(plane.database.db);
      await rehashChain(plane, (row) => (Number(row.seq) === 10 ? { ...row, actor: 'apikey:forger' } : row));
    });
    const result = await verify();
    expect(result).toMatchObject({
      ok: false,
      reason: expect.stringMatching(
        new RegExp(`checkpoint \\d+ anchored in file ${anchorFile} is missing from the database`),
      ),
    });
    expect(result.anchors[0]).toEqual({
      where: `file ${anchorFile}`,
      count: anchorKeys.size,
      newestSeq: snapshot.length,
    });
  });

  it('finds the checkpoints above N deleted together with the tail', async () => {
    const n = CHECKPOINT_INTERVAL + 3;
    await asOwner(plane, async () => {
      await sql`delete from audit_checkpoints where seq > ${n}`.execute(plane.database.db);
      await sql`delete from audit_log where seq > ${n}`.execute(plane.database.db);
    });
    expect(await verify()).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/checkpoint \d+ anchored in file .* is missing from the database/),
    });
  });

  it('finds a correctly hashed record appended at the head after the last anchor, with no trigger disabled', async () => {
    const seq = await appendPlainRecord(plane);
    expect(await verify()).toMatchObject({ ok: false, seq, reason: expect.stringContaining('without the audit key') });
  });

  it('finds a rewrite from the object store alone when the anchor file is gone, and an anchor that is not validly signed', async () => {
    await asOwner(plane, async () => {
      await sql`delete from audit_checkpoints`.execute(plane.database.db);
      await rehashChain(plane);
    });
    await rm(anchorFile);
    expect(await verify()).toMatchObject({
      ok: false,
      reason: expect.stringContaining(`anchored in object store (fs) ${ANCHOR_BUCKET}/${ANCHOR_PREFIX} is missing`),
    });
    await restore();
    const bogus = {
      seq: snapshot.length + 5,
      hash: 'ab'.repeat(32),
      keyedFrom: 1,
      keyId: 'audit-000000000000',
      signature: 'AAAA',
      ts: new Date().toISOString(),
    };
    await plane.objects.put(
      ANCHOR_BUCKET,
      `${ANCHOR_PREFIX}${String(bogus.seq).padStart(16, '0')}-${bogus.hash}.json`,
      Buffer.from(JSON.stringify(bogus)),
    );
    expect(await verify()).toMatchObject({
      ok: false,
      seq: bogus.seq,
      reason: expect.stringContaining('is not validly signed'),
    });
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
    const since =
      snapshot[snapshot.length - 1].ts.toISOString?.() ?? new Date(snapshot[snapshot.length - 1].ts).toISOString();
    const items = (await call(plane, 'GET', `/v1/audit?tenant=filtered&since=${encodeURIComponent(since)}`)).json()
      .items;
    expect(items.map((r: any) => r.action)).toEqual(['tenant.create', 'tenant.provisioned']);
    const byActor = (
      await call(plane, 'GET', '/v1/audit?actor=system:controller&action=tenant.provisioned&tenant=filtered')
    ).json().items;
    expect(byActor).toHaveLength(1);
    const none = (await call(plane, 'GET', '/v1/audit?tenant=filtered&until=2000-01-01T00:00:00Z')).json().items;
    expect(none).toEqual([]);
    const p = expectProblem(await call(plane, 'GET', '/v1/audit?since=yesterday&limit=5000'), 400, 'invalid_query');
    expect(p.errors.map((e: any) => e.path).sort()).toEqual(['/query/limit', '/query/since']);
  });
});

describe.each(engines())('audit anchoring over time on %s', (engine: EngineName) => {
  it('anchors within the interval while records are appended, and once more at shutdown', async () => {
    const plane = await startTestPlane(engine, { start: { auditAnchorIntervalMs: 100 } });
    const file = join(plane.dataDir, 'audit-anchors.jsonl');
    const newestAnchored = async () => {
      const lines = (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
      return lines.length === 0 ? 0 : (JSON.parse(lines[lines.length - 1]!) as { seq: number }).seq;
    };
    const head = async () =>
      Number(
        (
          await plane.database.db
            .selectFrom('audit_log')
            .select('seq')
            .orderBy('seq', 'desc')
            .limit(1)
            .executeTakeFirstOrThrow()
        ).seq,
      );
    try {
      await createActive(plane, 'anchored');
      const deadline = Date.now() + 5000;
      while ((await newestAnchored()) < (await head()) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(await newestAnchored()).toBe(await head());
      await call(plane, 'PATCH', '/v1/tenants/anchored', { spec: { name: 'renamed' } });
      await plane.controller.idle();
      const last = await head();
      await plane.close();
      expect(await newestAnchored()).toBe(last);
    } finally {
      await plane.stop();
    }
  }, 120_000);
});

describe('audit anchors in an S3-protocol object store', () => {
  it('keeps one object per anchor there and verifies against it', async () => {
    const s3 = await startS3();
    const plane = await startTestPlane('pglite', {
      env: { TENANCY_S3_URL: s3.url },
      start: { auditAnchorIntervalMs: 0 },
    });
    try {
      await createActive(plane, 's3-anchored');
      await plane.audit.checkpoint();
      const result = await plane.audit.verify();
      expect(result).toMatchObject({
        ok: true,
        anchors: [
          { where: expect.stringMatching(/^file /) },
          {
            where: `object store (s3) ${ANCHOR_BUCKET}/${ANCHOR_PREFIX}`,
            newestSeq: result.ok ? result.head?.seq : -1,
          },
        ],
      });
      await rm(join(plane.dataDir, 'audit-anchors.jsonl'));
      await asOwner(plane, () => sql`delete from audit_checkpoints`.execute(plane.database.db));
      expect(await plane.audit.verify()).toMatchObject({
        ok: false,
        reason: expect.stringContaining(
          `anchored in object store (s3) ${ANCHOR_BUCKET}/${ANCHOR_PREFIX} is missing from the database`,
        ),
      });
    } finally {
      await plane.stop();
      await s3.stop();
    }
  }, 120_000);
});

describe('a chain written before keyed links', () => {
  it('is keyed from the next record on, verifies, and refuses plain records after the cut-over', async () => {
    const dir = join((await import('node:os')).tmpdir(), `tenancy-audit-legacy-${randomBytes(4).toString('hex')}`);
    const keys = await loadSigningKeys(join(dir, 'signing-keys.json'));
    let database: Database<Schema> | undefined;
    try {
      database = await openDatabase<Schema>({ dataDir: undefined });
      const db = database.db;
      // 150 records as the earlier code wrote them: plain SHA-256 links, a v1 checkpoint at 100.
      let prev = '0'.repeat(64);
      for (let seq = 1; seq <= 150; seq++) {
        const r = {
          seq,
          id: `01900000-0000-7000-8000-${String(seq).padStart(12, '0')}`,
          ts: new Date(1_700_000_000_000 + seq).toISOString(),
          actor: 'apikey:old',
          action: 'tenant.update',
          target: 'tenant/t',
          tenantId: 't',
          correlationId: null,
          outcome: 'success',
          details: { seq },
        };
        const hash = recordHash(prev, r);
        await db
          .insertInto('audit_log')
          .values({
            seq,
            id: r.id,
            ts: r.ts,
            actor: r.actor,
            action: r.action,
            target: r.target,
            tenant_id: 't',
            correlation_id: null,
            outcome: 'success',
            details: JSON.stringify(r.details),
            prev_hash: prev,
            hash,
          } as never)
          .execute();
        if (seq === 100) {
          const { kid, signature } = keys.sign('audit', `tenancy-audit-checkpoint:${seq}:${hash}`);
          await db
            .insertInto('audit_checkpoints')
            .values({ seq, hash, key_id: kid, signature, ts: new Date().toISOString() })
            .execute();
        }
        prev = hash;
      }
      const audit = new AuditLog(db, keys);
      await audit.startAnchoring({ stores: [], intervalMs: 0 });
      const marker = await db
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '=', 151 as never)
        .executeTakeFirstOrThrow();
      expect(marker).toMatchObject({ action: 'audit.chain_keyed', actor: 'system:audit', details: { keyedFrom: 151 } });
      await audit.record(
        { id: 'apikey:new', correlationId: null },
        { action: 'tenant.update', target: 'tenant/t', tenantId: 't', outcome: 'success' },
      );
      expect(await audit.verify()).toMatchObject({ ok: true, records: 152, keyedFrom: 151 });
      // A plain record after the cut-over is refused even when every checkpoint is gone.
      const head = await db
        .selectFrom('audit_log')
        .selectAll()
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirstOrThrow();
      const forged = {
        seq: 153,
        id: '01900000-0000-7000-8000-999999999999',
        ts: new Date().toISOString(),
        actor: 'apikey:forged',
        action: 'tenant.update',
        target: 'tenant/t',
        tenantId: 't',
        correlationId: null,
        outcome: 'success',
        details: {},
      };
      await db
        .insertInto('audit_log')
        .values({
          seq: 153,
          id: forged.id,
          ts: forged.ts,
          actor: forged.actor,
          action: forged.action,
          target: forged.target,
          tenant_id: 't',
          correlation_id: null,
          outcome: 'success',
          details: '{}',
          prev_hash: head.hash,
          hash: recordHash(head.hash, forged),
        } as never)
        .execute();
      expect(await audit.verify()).toMatchObject({
        ok: false,
        seq: 153,
        reason: expect.stringContaining('without the audit key'),
      });
      await sql`alter table audit_checkpoints disable trigger user`.execute(db);
      await sql`delete from audit_checkpoints`.execute(db);
      expect(await audit.verify()).toMatchObject({
        ok: false,
        seq: 153,
        reason: expect.stringContaining('without the audit key'),
      });
    } finally {
      await database?.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
