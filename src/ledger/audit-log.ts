/**
 * The tamper-evident audit log. Records are appended inside the writing transaction (so a
 * change without its record cannot commit) and chained: each record's link is an
 * HMAC-SHA256, under a key derived from the audit signing key (never in the database), over
 * the previous link and the record's canonical JSON (RFC 8785). Records written before
 * keyed links existed keep their plain SHA-256 links; signed checkpoints say from which
 * `seq` links are keyed. The head is signed with Ed25519 every {@link CHECKPOINT_INTERVAL}
 * records, and signed checkpoints are anchored outside the database (a file in the data dir,
 * the object store, an `audit.checkpoint` event) every few seconds while records are
 * appended and at shutdown. Both tables reject UPDATE, DELETE and TRUNCATE;
 * {@link verifyAuditLog} finds any edit, deletion, insertion, reordering or rewrite.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { json } from '../infra/sql/index.js';
import type { Schema } from '../schema.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import type { AuditAnchor } from './audit-anchors.js';
import {
  CHAIN_KEY_LABEL,
  CHECKPOINT_INTERVAL,
  GENESIS_HASH,
  type Record0,
  recordLink,
  toRecord,
} from './audit-chain.js';
import { AUDIT_LOCK_ID, CheckpointAnchorer } from './audit-checkpoints.js';
import type { AnchoringOptions, AuditEntry, AuditRecord, AuditVerification, Change } from './audit-types.js';
import { verifyAuditLog } from './audit-verify.js';
import { addEvent } from './event-outbox.js';
import type { Actor } from './types.js';

export type { Actor } from './types.js';
export type { AuditRecord } from './audit-types.js';

/** Append-only writer and reader of the audit log, and the anchorer of its checkpoints. */
export class AuditLog {
  readonly #chainKey: Buffer;
  readonly #checkpoints: CheckpointAnchorer;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly keys: SigningKeys,
  ) {
    this.#chainKey = keys.secret('audit', CHAIN_KEY_LABEL);
    this.#checkpoints = new CheckpointAnchorer(db, keys, this.#chainKey, (trx, actor, entry) =>
      this.append(trx, actor, entry),
    );
  }

  /**
   * Record an app's own event for a tenant (`app.<action>`), in its own transaction, and
   * publish it as `audit.app_event` carrying the record's sequence number.
   */
  async recordAppEvent(
    actor: Actor,
    tenantId: string,
    event: { action: string; target: string; outcome: AuditEntry['outcome']; subject?: string; details?: unknown },
  ): Promise<AuditRecord> {
    return this.db.transaction().execute(async (trx) => {
      const r = await this.append(trx, actor, {
        action: `app.${event.action}`,
        target: event.target,
        tenantId,
        outcome: event.outcome,
        details: {
          ...(event.subject !== undefined ? { subject: event.subject } : {}),
          ...(event.details !== undefined ? { data: event.details } : {}),
        },
      });
      await addEvent(trx, actor, {
        type: 'audit.app_event',
        tenantId,
        payload: { seq: r.seq, id: r.id, action: r.action, target: r.target, outcome: r.outcome },
      });
      return r;
    });
  }

  /**
   * Record a change in the caller's transaction: its audit record and, when it publishes
   * one, its event (the outbox row), both or neither. Every module writes its changes
   * through this one call; {@link append} alone is for what publishes nothing (reads,
   * denials).
   */
  async recordChange(trx: Transaction<Schema>, change: Change): Promise<AuditRecord> {
    const { actor, event, ...entry } = change;
    const record = await this.append(trx, actor, entry);
    if (event)
      await addEvent(trx, actor, {
        type: event.type,
        tenantId: event.tenantId === undefined ? entry.tenantId : event.tenantId,
        payload: event.payload,
      });
    return record;
  }

  /**
   * Append inside `trx` (the caller's writing transaction). Appends are serialized by a
   * transaction-scoped advisory lock, so the chain has one order even across replicas.
   */
  async append(trx: Transaction<Schema>, actor: Actor, entry: AuditEntry): Promise<AuditRecord> {
    await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`.execute(trx);
    const last = await trx
      .selectFrom('audit_log')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    const seq = last ? Number(last.seq) + 1 : 1;
    const prevHash = last?.hash ?? GENESIS_HASH;
    // Until a committed, signed checkpoint says where keyed links start, this record starts
    // them, and a checkpoint at its seq says so in the same transaction.
    const keyedFrom = this.#checkpoints.keyedFrom ?? (await this.#checkpoints.signedKeyedFrom(trx));
    const record: Record0 = {
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
    const hash = recordLink(this.#chainKey, prevHash, record);
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
    if (keyedFrom === undefined || seq % CHECKPOINT_INTERVAL === 0)
      await this.#checkpoints.insertCheckpoint(trx, seq, hash, keyedFrom ?? seq);
    this.#checkpoints.noteAppend(seq);
    return { ...record, prevHash, hash };
  }

  /** Record an event that changes nothing else (a denial, a read of something sensitive). */
  async record(actor: Actor, entry: AuditEntry): Promise<AuditRecord> {
    return this.db.transaction().execute((trx) => this.append(trx, actor, entry));
  }

  /**
   * Start anchoring checkpoints in `stores`: now (the head as found, after appending an
   * `audit.chain_keyed` record if the chain has no keyed link yet), every
   * `everyRecords` appends, every `intervalMs` while there are appends, and at close.
   */
  async startAnchoring(options: AnchoringOptions): Promise<void> {
    await this.#checkpoints.start(options);
  }

  /**
   * Sign the head as committed now and anchor it outside the database (file, object store,
   * `audit.checkpoint` event). One anchor runs at a time; a call while one runs waits and
   * runs again. Refuses (throws) when the records since the last anchor do not extend it.
   */
  async anchor(): Promise<AuditAnchor | undefined> {
    return this.#checkpoints.anchor();
  }

  /** Sign the current head now (kept for callers of the former name): {@link anchor}. */
  async checkpoint(): Promise<void> {
    await this.anchor();
  }

  /** Stop the timers and anchor the head one last time. */
  async close(): Promise<void> {
    await this.#checkpoints.close();
  }

  /** Records matching the filters, in chain order, with keyset pagination on `seq`. */
  async list(filter: {
    tenantId?: string | undefined;
    actor?: string | undefined;
    action?: string | undefined;
    target?: string | undefined;
    since?: Date | undefined;
    until?: Date | undefined;
    afterSeq?: number | undefined;
    limit: number;
  }): Promise<AuditRecord[]> {
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

  /** Walk the whole chain and compare it with the anchors; stops at the first thing that does not check out. */
  async verify(batchSize = 20_000): Promise<AuditVerification> {
    return verifyAuditLog(this.db, this.keys, {
      batchSize,
      anchors: this.#checkpoints.stores,
      chainKey: this.#chainKey,
    });
  }
}
