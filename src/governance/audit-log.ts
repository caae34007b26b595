/**
 * The tamper-evident audit log. Records are appended inside the writing transaction
 * (so a change without its record cannot commit), chained by SHA-256 over the previous
 * hash and the record's canonical JSON (RFC 8785), and the head is signed with Ed25519
 * every {@link CHECKPOINT_INTERVAL} records. The table itself rejects UPDATE, DELETE and
 * TRUNCATE; {@link verifyAuditLog} finds any edit, deletion, insertion or reordering.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { json, type Schema } from '../infra/sql/index.js';
import type { SigningKeys } from '../keys/index.js';

/** Who did something, and under which correlation id. */
export interface Actor {
  /** `apikey:<id>`, `system:controller`, `anonymous`… */
  id: string;
  correlationId: string | null;
}

/** What an append records. */
export interface AuditEntry {
  action: string;
  target: string;
  tenantId: string | null;
  outcome: 'success' | 'denied' | 'failure';
  details?: Record<string, unknown>;
}

/** A stored audit record. */
export interface AuditRecord {
  seq: number;
  id: string;
  ts: string;
  actor: string;
  action: string;
  target: string;
  tenantId: string | null;
  correlationId: string | null;
  outcome: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Result of a verify pass. */
export type AuditVerification =
  | { ok: true; records: number; head: { seq: number; hash: string } | null; checkpoints: number }
  | { ok: false; records: number; seq: number; reason: string };

export const GENESIS_HASH = '0'.repeat(64);
export const CHECKPOINT_INTERVAL = 100;
const AUDIT_LOCK_ID = 7_480_001;

type Db = Kysely<Schema> | Transaction<Schema>;

/** Hash of one record given its predecessor's hash. */
export function recordHash(prevHash: string, r: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalRecord(r)).digest('hex');
}

/**
 * RFC 8785 canonical JSON of a record's hashed fields. The top level has a fixed shape, so
 * its keys are written in their sorted order directly and only `details` goes through the
 * general canonicalizer (byte-identical to canonicalizing the whole object, and several
 * times faster on the verify path; a property test holds the two equal).
 */
export function canonicalRecord(r: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  const s = JSON.stringify;
  return (
    `{"action":${s(r.action)},"actor":${s(r.actor)},"correlationId":${s(r.correlationId)},"details":${canonicalize(r.details) ?? '{}'}` +
    `,"id":${s(r.id)},"outcome":${s(r.outcome)},"seq":${s(r.seq)},"target":${s(r.target)},"tenantId":${s(r.tenantId)},"ts":${s(r.ts)}}`
  );
}

function checkpointPayload(seq: number, hash: string): string {
  return `tenancy-audit-checkpoint:${seq}:${hash}`;
}

/** Append-only writer and reader of the audit log. */
export class AuditLog {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly keys: SigningKeys,
  ) {}

  /**
   * Append inside `trx` (the caller's writing transaction). Appends are serialized by a
   * transaction-scoped advisory lock, so the chain has one order even across replicas.
   */
  async append(trx: Transaction<Schema>, actor: Actor, entry: AuditEntry): Promise<AuditRecord> {
    await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`.execute(trx);
    const last = await trx.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    const seq = last ? Number(last.seq) + 1 : 1;
    const prevHash = last?.hash ?? GENESIS_HASH;
    const record: Omit<AuditRecord, 'prevHash' | 'hash'> = {
      seq,
      id: uuidv7(),
      ts: new Date().toISOString(),
      actor: actor.id,
      action: entry.action,
      target: entry.target,
      tenantId: entry.tenantId,
      correlationId: actor.correlationId,
      outcome: entry.outcome,
      details: entry.details ?? {},
    };
    const hash = recordHash(prevHash, record);
    await trx
      .insertInto('audit_log')
      .values({
        seq,
        id: record.id,
        ts: record.ts,
        actor: record.actor,
        action: record.action,
        target: record.target,
        tenant_id: record.tenantId,
        correlation_id: record.correlationId,
        outcome: record.outcome,
        details: json(record.details),
        prev_hash: prevHash,
        hash,
      })
      .execute();
    if (seq % CHECKPOINT_INTERVAL === 0) await this.#checkpoint(trx, seq, hash);
    return { ...record, prevHash, hash };
  }

  /** Record an event that changes nothing else (a denial, a read of something sensitive). */
  async record(actor: Actor, entry: AuditEntry): Promise<AuditRecord> {
    return this.db.transaction().execute((trx) => this.append(trx, actor, entry));
  }

  /** Sign the current head now (also done every {@link CHECKPOINT_INTERVAL} records). */
  async checkpoint(): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`.execute(trx);
      const last = await trx.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      if (!last) return;
      const existing = await trx.selectFrom('audit_checkpoints').select('seq').where('seq', '=', Number(last.seq)).executeTakeFirst();
      if (!existing) await this.#checkpoint(trx, Number(last.seq), last.hash);
    });
  }

  async #checkpoint(trx: Transaction<Schema>, seq: number, hash: string): Promise<void> {
    const { kid, signature } = this.keys.sign('audit', checkpointPayload(seq, hash));
    await trx.insertInto('audit_checkpoints').values({ seq, hash, key_id: kid, signature, ts: new Date().toISOString() }).execute();
  }

  /** Records matching the filters, in chain order, with keyset pagination on `seq`. */
  async list(filter: { tenantId?: string | undefined; actor?: string | undefined; action?: string | undefined; target?: string | undefined; since?: Date | undefined; until?: Date | undefined; afterSeq?: number | undefined; limit: number }): Promise<AuditRecord[]> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
    if (filter.actor !== undefined) q = q.where('actor', '=', filter.actor);
    if (filter.action !== undefined) q = q.where('action', '=', filter.action);
    if (filter.target !== undefined) q = q.where('target', '=', filter.target);
    if (filter.since !== undefined) q = q.where('ts', '>=', filter.since);
    if (filter.until !== undefined) q = q.where('ts', '<', filter.until);
    if (filter.afterSeq !== undefined) q = q.where('seq', '>', filter.afterSeq as never);
    const rows = await q.orderBy('seq', 'asc').limit(filter.limit).execute();
    return rows.map(toRecord);
  }

  /** Walk the whole chain; stops at the first record that does not check out. */
  async verify(batchSize = 20_000): Promise<AuditVerification> {
    return verifyAuditLog(this.db, this.keys, batchSize);
  }
}

function toRecord(row: Selectable<Schema['audit_log']>): AuditRecord {
  return {
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
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Checks records one at a time in `seq` order: contiguous sequence numbers, each record
 * linked to the previous hash, each hash matching its content and any signed checkpoint.
 */
export class ChainVerifier {
  #expectedSeq = 1;
  #prevHash = GENESIS_HASH;
  records = 0;

  constructor(private readonly checkpoints: ReadonlyMap<number, string> = new Map()) {}

  /** The reason `r` breaks the chain, or undefined when it continues it. */
  push(r: AuditRecord): { seq: number; reason: string } | undefined {
    if (r.seq !== this.#expectedSeq) {
      return { seq: this.#expectedSeq, reason: r.seq > this.#expectedSeq ? `record ${this.#expectedSeq} is missing (next present is ${r.seq})` : `record ${r.seq} is out of order (expected ${this.#expectedSeq})` };
    }
    if (r.prevHash !== this.#prevHash) return { seq: r.seq, reason: `record ${r.seq} does not link to record ${r.seq - 1} (prev_hash differs)` };
    const hash = recordHash(this.#prevHash, r);
    if (hash !== r.hash) return { seq: r.seq, reason: `record ${r.seq} was altered (its content does not match its hash)` };
    const signed = this.checkpoints.get(r.seq);
    if (signed !== undefined && signed !== hash) return { seq: r.seq, reason: `record ${r.seq} differs from the signed checkpoint (the chain was rewritten)` };
    this.#prevHash = hash;
    this.#expectedSeq += 1;
    this.records += 1;
    return undefined;
  }

  /** The head after the records pushed so far. */
  get head(): { seq: number; hash: string } | null {
    return this.records === 0 ? null : { seq: this.records, hash: this.#prevHash };
  }
}

/** Verify the chain and every checkpoint signature. */
export async function verifyAuditLog(db: Db, keys: SigningKeys, batchSize = 20_000): Promise<AuditVerification> {
  const checkpoints = await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'asc').execute();
  const signed = new Map<number, string>();
  for (const cp of checkpoints) {
    const seq = Number(cp.seq);
    if (!keys.verify(cp.key_id, checkpointPayload(seq, cp.hash), cp.signature)) {
      return { ok: false, records: 0, seq, reason: `checkpoint at seq ${seq} has an invalid signature` };
    }
    signed.set(seq, cp.hash);
  }
  const verifier = new ChainVerifier(signed);
  const fetchAfter = (afterSeq: number) => db.selectFrom('audit_log').selectAll().where('seq', '>', afterSeq as never).orderBy('seq', 'asc').limit(batchSize).execute();
  // Fetch the next batch while hashing this one.
  let pending = fetchAfter(0);
  for (;;) {
    const rows = await pending;
    if (rows.length === 0) break;
    pending = rows.length === batchSize ? fetchAfter(Number(rows[rows.length - 1]!.seq)) : Promise.resolve([]);
    for (const row of rows) {
      const broken = verifier.push(toRecord(row));
      if (broken) {
        await pending.catch(() => undefined);
        return { ok: false, records: verifier.records, ...broken };
      }
    }
  }
  const lastCheckpoint = checkpoints[checkpoints.length - 1];
  if (lastCheckpoint && Number(lastCheckpoint.seq) > verifier.records) {
    return { ok: false, records: verifier.records, seq: verifier.records + 1, reason: `records after ${verifier.records} are missing (a signed checkpoint covers seq ${Number(lastCheckpoint.seq)})` };
  }
  return { ok: true, records: verifier.records, head: verifier.head, checkpoints: checkpoints.length };
}
