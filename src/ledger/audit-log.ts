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
import { createHash, createHmac } from 'node:crypto';
import canonicalize from 'canonicalize';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { TenancyError } from '../errors.js';
import { json, type Schema } from '../infra/sql/index.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import type { AnchorStore, AuditAnchor } from './audit-anchors.js';
import { addEvent } from './event-outbox.js';

import type { Actor, OutboxEvent } from './types.js';

export type { Actor } from './types.js';

/** What an append records. */
export interface AuditEntry {
  action: string;
  target: string;
  tenantId: string | null;
  outcome: 'success' | 'denied' | 'failure';
  details?: Record<string, unknown>;
}

/** A change as {@link AuditLog.recordChange} records it. */
export interface Change extends AuditEntry {
  actor: Actor;
  /** The event the change publishes; its tenant is the record's unless given. */
  event?: Omit<OutboxEvent, 'tenantId'> & { tenantId?: string | null };
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

/** The anchors one store held when the chain was verified against them. */
export interface AnchorCheck {
  where: string;
  count: number;
  newestSeq: number | null;
}

/** Result of a verify pass; `anchors` lists the stores outside the database it compared the chain with. */
export type AuditVerification =
  | {
      ok: true;
      records: number;
      head: { seq: number; hash: string } | null;
      checkpoints: number;
      keyedFrom: number | null;
      anchors: AnchorCheck[];
    }
  | { ok: false; records: number; seq: number; reason: string; anchors: AnchorCheck[] };

/** How and where {@link AuditLog.startAnchoring} anchors checkpoints. */
export interface AnchoringOptions {
  stores: AnchorStore[];
  /** Anchor at least this often while records are being appended; 0 = only every {@link everyRecords} and at close (default 2,000 ms). */
  intervalMs?: number;
  /** Anchor as soon as this many records were appended since the last anchor (default {@link CHECKPOINT_INTERVAL}). */
  everyRecords?: number;
  /** Least time between two anchors, so a burst of appends costs few object writes (default 200 ms). */
  minSpacingMs?: number;
  /** A failed anchor (store unreachable, chain not extending the last anchor); it is retried. */
  onError?: (error: unknown) => void;
}

export const GENESIS_HASH = '0'.repeat(64);
export const CHECKPOINT_INTERVAL = 100;
/** HKDF label of the chain key, derived from the oldest audit signing key. */
export const CHAIN_KEY_LABEL = 'tenancy-audit-chain-link-v1';
const AUDIT_LOCK_ID = 7_480_001;
const SYSTEM_AUDIT: Actor = { id: 'system:audit', correlationId: null };
const MAX_PENDING_ANCHORS = 1000;

type Db = Kysely<Schema> | Transaction<Schema>;
type Record0 = Omit<AuditRecord, 'prevHash' | 'hash'>;

/** Plain SHA-256 link of one record given its predecessor's: how records were chained before keyed links. */
export function recordHash(prevHash: string, r: Record0): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalRecord(r)).digest('hex');
}

/**
 * Keyed link of one record: HMAC-SHA256 under the chain key over the same bytes as
 * {@link recordHash}. Whoever can write the database but does not hold the key cannot
 * make a record that links.
 */
export function recordLink(key: Buffer, prevHash: string, r: Record0): string {
  return createHmac('sha256', key)
    .update(`${prevHash}\n${canonicalRecord(r)}`)
    .digest('hex');
}

/**
 * RFC 8785 canonical JSON of a record's hashed fields. The top level has a fixed shape, so
 * its keys are written in their sorted order directly and only `details` goes through the
 * general canonicalizer (byte-identical to canonicalizing the whole object, and several
 * times faster on the verify path; a property test holds the two equal).
 */
export function canonicalRecord(r: Record0): string {
  const s = JSON.stringify;
  return (
    `{"action":${s(r.action)},"actor":${s(r.actor)},"correlationId":${s(r.correlationId)},"details":${canonicalize(r.details) ?? '{}'}` +
    `,"id":${s(r.id)},"outcome":${s(r.outcome)},"seq":${s(r.seq)},"target":${s(r.target)},"tenantId":${s(r.tenantId)},"ts":${s(r.ts)}}`
  );
}

/** What a checkpoint's signature covers; `keyedFrom` is null only on checkpoints signed before keyed links. */
export function checkpointPayload(seq: number, hash: string, keyedFrom: number | null): string {
  return keyedFrom === null
    ? `tenancy-audit-checkpoint:${seq}:${hash}`
    : `tenancy-audit-checkpoint:v2:${seq}:${hash}:keyed-from:${keyedFrom}`;
}

/** Append-only writer and reader of the audit log, and the anchorer of its checkpoints. */
export class AuditLog {
  readonly #chainKey: Buffer;
  /** First keyed `seq`, once a signed checkpoint or anchor has said it. */
  #keyedFrom: number | undefined;
  #stores: AnchorStore[] = [];
  #options: Required<Omit<AnchoringOptions, 'stores'>> = {
    intervalMs: 2000,
    everyRecords: CHECKPOINT_INTERVAL,
    minSpacingMs: 200,
    onError: () => undefined,
  };
  /** The newest checkpoint this process anchored (or found anchored at start). */
  #anchored: { seq: number; hash: string } | undefined;
  /** Anchors a store could not take yet, written before its next one. */
  #pending = new Map<AnchorStore, AuditAnchor[]>();
  #lastAppended = 0;
  #lastAnchorAt = 0;
  #running: Promise<AuditAnchor | undefined> | undefined;
  #kickTimer: NodeJS.Timeout | undefined;
  #kicked = false;
  #interval: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly keys: SigningKeys,
  ) {
    this.#chainKey = keys.secret('audit', CHAIN_KEY_LABEL);
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
    const keyedFrom = this.#keyedFrom ?? (await this.#signedKeyedFrom(trx));
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
      await this.#insertCheckpoint(trx, seq, hash, keyedFrom ?? seq);
    this.#noteAppend(seq);
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
    this.#stores = options.stores;
    this.#options = {
      intervalMs: options.intervalMs ?? this.#options.intervalMs,
      everyRecords: options.everyRecords ?? this.#options.everyRecords,
      minSpacingMs: options.minSpacingMs ?? this.#options.minSpacingMs,
      onError: options.onError ?? this.#options.onError,
    };
    // Where the anchored history ends: the newest validly signed anchor in any store.
    for (const store of this.#stores) {
      let latest: AuditAnchor | undefined;
      try {
        latest = await store.latest();
      } catch (error) {
        this.#options.onError(
          new TenancyError(
            'audit_anchor_unavailable',
            503,
            `cannot read the audit anchors in ${store.where}: ${(error as Error).message}`,
            { cause: error },
          ),
        );
        continue;
      }
      if (
        !latest ||
        !this.keys.verify(latest.keyId, checkpointPayload(latest.seq, latest.hash, latest.keyedFrom), latest.signature)
      )
        continue;
      if (!this.#anchored || latest.seq > this.#anchored.seq) this.#anchored = { seq: latest.seq, hash: latest.hash };
      if (latest.keyedFrom !== null) this.#keyedFrom ??= latest.keyedFrom;
    }
    await this.#keyChain();
    // A chain that does not extend its anchors is reported (and by verify), not a reason not to start.
    await this.anchor().catch(this.#options.onError);
    if (this.#options.intervalMs > 0) {
      this.#interval = setInterval(() => {
        if (this.#lastAppended > (this.#anchored?.seq ?? 0)) this.anchor().catch(this.#options.onError);
      }, this.#options.intervalMs);
      this.#interval.unref();
    }
  }

  /** A chain written before keyed links gets its first keyed record now, not at the next change. */
  async #keyChain(): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`.execute(trx);
      if ((this.#keyedFrom ?? (await this.#signedKeyedFrom(trx))) !== undefined) return;
      const head = await trx.selectFrom('audit_log').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
      if (!head) return;
      await this.append(trx, SYSTEM_AUDIT, {
        action: 'audit.chain_keyed',
        target: 'audit',
        tenantId: null,
        outcome: 'success',
        details: { keyedFrom: Number(head.seq) + 1 },
      });
    });
  }

  /**
   * Sign the head as committed now and anchor it outside the database (file, object store,
   * `audit.checkpoint` event). One anchor runs at a time; a call while one runs waits and
   * runs again. Refuses (throws) when the records since the last anchor do not extend it.
   */
  async anchor(): Promise<AuditAnchor | undefined> {
    const previous = this.#running;
    const run = (async () => {
      await previous?.catch(() => undefined);
      return this.#anchorOnce();
    })();
    this.#running = run;
    try {
      return await run;
    } finally {
      if (this.#running === run) this.#running = undefined;
    }
  }

  /** Sign the current head now (kept for callers of the former name): {@link anchor}. */
  async checkpoint(): Promise<void> {
    await this.anchor();
  }

  /** Stop the timers and anchor the head one last time. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#interval);
    clearTimeout(this.#kickTimer);
    await this.anchor();
  }

  async #anchorOnce(): Promise<AuditAnchor | undefined> {
    this.#lastAnchorAt = Date.now();
    const head = await this.db
      .selectFrom('audit_log')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!head) return undefined;
    const seq = Number(head.seq);
    if (this.#anchored && seq === this.#anchored.seq && head.hash === this.#anchored.hash) {
      await this.#flushPending();
      return undefined;
    }
    // Never sign a head that does not extend what is already anchored.
    if (this.#anchored) await this.#checkExtends(this.#anchored, seq);
    const anchor = await this.db.transaction().execute(async (trx) => {
      const keyedFrom = this.#keyedFrom ?? (await this.#signedKeyedFrom(trx)) ?? null;
      // The checkpoint an append (every 100 records) or another replica already wrote there, else a new one.
      let a = await this.#insertCheckpoint(trx, seq, head.hash, keyedFrom, { ifAbsent: true });
      if (!a) {
        const existing = await trx
          .selectFrom('audit_checkpoints')
          .selectAll()
          .where('seq', '=', seq as never)
          .executeTakeFirstOrThrow();
        const existingKeyedFrom = existing.keyed_from === null ? null : Number(existing.keyed_from);
        a = {
          seq,
          hash: existing.hash,
          keyedFrom: existingKeyedFrom,
          keyId: existing.key_id,
          signature: existing.signature,
          ts: new Date(existing.ts).toISOString(),
        };
        if (
          a.hash !== head.hash ||
          !this.keys.verify(a.keyId, checkpointPayload(seq, a.hash, a.keyedFrom), a.signature)
        ) {
          throw new TenancyError(
            'audit_chain_broken',
            500,
            `the audit checkpoint at seq ${seq} in the database is not validly signed for the record there; not anchoring`,
          );
        }
      }
      await addEvent(trx, SYSTEM_AUDIT, { type: 'audit.checkpoint', tenantId: null, payload: { ...a } });
      return a;
    });
    if (anchor.keyedFrom !== null) this.#keyedFrom ??= anchor.keyedFrom;
    // A store that stays unreachable keeps its newest anchors waiting, not every one since.
    for (const store of this.#stores)
      this.#pending.set(store, [...(this.#pending.get(store) ?? []), anchor].slice(-MAX_PENDING_ANCHORS));
    this.#anchored = { seq, hash: anchor.hash };
    await this.#flushPending();
    return anchor;
  }

  /** Write each store's waiting anchors, oldest first; a store that fails keeps its own and is retried next time. */
  async #flushPending(): Promise<void> {
    for (const store of this.#stores) {
      const waiting = this.#pending.get(store) ?? [];
      while (waiting.length > 0) {
        try {
          await store.write(waiting[0]!);
          waiting.shift();
        } catch (error) {
          this.#options.onError(
            new TenancyError(
              'audit_anchor_unavailable',
              503,
              `cannot write the audit anchor at seq ${waiting[0]!.seq} to ${store.where}: ${(error as Error).message}`,
              { cause: error },
            ),
          );
          break;
        }
      }
    }
  }

  /** Throws unless the committed records from `from.seq` to `toSeq` chain on from the anchored `from`. */
  async #checkExtends(from: { seq: number; hash: string }, toSeq: number): Promise<void> {
    const broken = (reason: string) =>
      new TenancyError(
        'audit_chain_broken',
        500,
        `the audit chain no longer extends the anchored checkpoint at seq ${from.seq}: ${reason}; not anchoring (run tenancy audit verify)`,
      );
    if (toSeq < from.seq) throw broken(`it ends at seq ${toSeq}`);
    const at = await this.db
      .selectFrom('audit_log')
      .select('hash')
      .where('seq', '=', from.seq as never)
      .executeTakeFirst();
    if (at?.hash !== from.hash) throw broken(at ? `record ${from.seq} differs` : `record ${from.seq} is missing`);
    const keyedFrom = this.#keyedFrom ?? (await this.#signedKeyedFrom(this.db));
    const verifier = new ChainVerifier(new Map(), { key: this.#chainKey, keyedFrom, start: from });
    for (let after = from.seq; after < toSeq; ) {
      const rows = await this.db
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '>', after as never)
        .where('seq', '<=', toSeq as never)
        .orderBy('seq', 'asc')
        .limit(20_000)
        .execute();
      if (rows.length === 0) throw broken(`record ${after + 1} is missing`);
      for (const row of rows) {
        const problem = verifier.push(toRecord(row));
        if (problem) throw broken(problem.reason);
      }
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  #noteAppend(seq: number): void {
    if (seq > this.#lastAppended) this.#lastAppended = seq;
    if (this.#stores.length === 0 || this.#closed || this.#kicked) return;
    if (seq - (this.#anchored?.seq ?? 0) < this.#options.everyRecords) return;
    const wait = this.#lastAnchorAt + this.#options.minSpacingMs - Date.now();
    if (wait <= 0) {
      clearTimeout(this.#kickTimer);
      this.#kickTimer = undefined;
      // Started now, it queues behind the caller's transaction for the head. Not from a timer:
      // a loop of appends on PGlite can run on promises alone and keep timers from firing.
      this.#kicked = true;
      this.anchor()
        .catch(this.#options.onError)
        .finally(() => (this.#kicked = false));
      return;
    }
    if (this.#kickTimer) return;
    this.#kickTimer = setTimeout(() => {
      this.#kickTimer = undefined;
      if (!this.#closed) this.anchor().catch(this.#options.onError);
    }, wait);
    this.#kickTimer.unref();
  }

  /** The keyed-from `seq` a validly signed checkpoint in the database states, cached once found. */
  async #signedKeyedFrom(db: Db): Promise<number | undefined> {
    if (this.#keyedFrom !== undefined) return this.#keyedFrom;
    const rows = await db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('keyed_from', 'is not', null)
      .orderBy('seq', 'desc')
      .limit(10)
      .execute();
    for (const cp of rows) {
      const keyedFrom = Number(cp.keyed_from);
      if (this.keys.verify(cp.key_id, checkpointPayload(Number(cp.seq), cp.hash, keyedFrom), cp.signature)) {
        this.#keyedFrom = keyedFrom;
        return keyedFrom;
      }
    }
    return undefined;
  }

  async #insertCheckpoint(
    trx: Transaction<Schema>,
    seq: number,
    hash: string,
    keyedFrom: number | null,
  ): Promise<AuditAnchor>;
  async #insertCheckpoint(
    trx: Transaction<Schema>,
    seq: number,
    hash: string,
    keyedFrom: number | null,
    options: { ifAbsent: true },
  ): Promise<AuditAnchor | undefined>;
  async #insertCheckpoint(
    trx: Transaction<Schema>,
    seq: number,
    hash: string,
    keyedFrom: number | null,
    options: { ifAbsent?: boolean } = {},
  ): Promise<AuditAnchor | undefined> {
    const { kid, signature } = this.keys.sign('audit', checkpointPayload(seq, hash, keyedFrom));
    const ts = new Date().toISOString();
    let q = trx
      .insertInto('audit_checkpoints')
      .values({ seq, hash, key_id: kid, signature, ts, keyed_from: keyedFrom });
    if (options.ifAbsent) q = q.onConflict((oc) => oc.column('seq').doNothing());
    const [result] = await q.execute();
    return Number(result?.numInsertedOrUpdatedRows ?? 1) === 0
      ? undefined
      : { seq, hash, keyedFrom, keyId: kid, signature, ts };
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
    return verifyAuditLog(this.db, this.keys, { batchSize, anchors: this.#stores, chainKey: this.#chainKey });
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

/** How a {@link ChainVerifier} checks links. */
export interface ChainVerifierOptions {
  /** The chain key; without it only plain SHA-256 links are checked. */
  key?: Buffer | undefined;
  /** First keyed `seq` as a signed checkpoint states; unknown = the first record with a keyed link starts them. */
  keyedFrom?: number | undefined;
  /** Anchored checkpoints by `seq`, with where they were anchored, to name in a failure. */
  anchoredAt?: ReadonlyMap<number, string> | undefined;
  /** Start after this record instead of at the genesis. */
  start?: { seq: number; hash: string } | undefined;
}

/**
 * Checks records one at a time in `seq` order: contiguous sequence numbers, each record
 * linked to the previous hash, each link matching its content (keyed from the cut-over
 * on, and never plain again after it) and any signed checkpoint.
 */
export class ChainVerifier {
  #expectedSeq: number;
  #prevHash: string;
  #keyedSeen = false;
  readonly #key: Buffer | undefined;
  readonly #anchoredAt: ReadonlyMap<number, string>;
  records = 0;
  /** The first record found with a keyed link. */
  keyedFrom: number | null = null;

  constructor(
    private readonly checkpoints: ReadonlyMap<number, string> = new Map(),
    private readonly options: ChainVerifierOptions = {},
  ) {
    this.#expectedSeq = (options.start?.seq ?? 0) + 1;
    this.#prevHash = options.start?.hash ?? GENESIS_HASH;
    this.#key = options.key;
    this.#anchoredAt = options.anchoredAt ?? new Map();
    this.#keyedSeen = options.keyedFrom !== undefined && this.#expectedSeq > options.keyedFrom;
  }

  /** The reason `r` breaks the chain, or undefined when it continues it. */
  push(r: AuditRecord): { seq: number; reason: string } | undefined {
    if (r.seq !== this.#expectedSeq) {
      return {
        seq: this.#expectedSeq,
        reason:
          r.seq > this.#expectedSeq
            ? `record ${this.#expectedSeq} is missing (next present is ${r.seq})`
            : `record ${r.seq} is out of order (expected ${this.#expectedSeq})`,
      };
    }
    if (r.prevHash !== this.#prevHash)
      return { seq: r.seq, reason: `record ${r.seq} does not link to record ${r.seq - 1} (prev_hash differs)` };
    const key = this.#key;
    const keyedFrom = this.options.keyedFrom;
    let hash: string;
    if (key && (this.#keyedSeen || (keyedFrom !== undefined && r.seq >= keyedFrom))) {
      hash = recordLink(key, this.#prevHash, r);
      if (hash !== r.hash) {
        if (recordHash(this.#prevHash, r) === r.hash) {
          const from = keyedFrom ?? this.keyedFrom;
          return {
            seq: r.seq,
            reason: `record ${r.seq} is linked with plain SHA-256 where the chain is keyed from seq ${from}: it was written without the audit key (forged)`,
          };
        }
        return { seq: r.seq, reason: `record ${r.seq} was altered (its content does not match its hash)` };
      }
      if (this.keyedFrom === null) this.keyedFrom = r.seq;
      this.#keyedSeen = true;
    } else {
      hash = recordHash(this.#prevHash, r);
      if (hash !== r.hash) {
        // No signed checkpoint says where keyed links start: the first keyed record does.
        if (key && keyedFrom === undefined && recordLink(key, this.#prevHash, r) === r.hash) {
          hash = r.hash;
          this.keyedFrom = r.seq;
          this.#keyedSeen = true;
        } else {
          return { seq: r.seq, reason: `record ${r.seq} was altered (its content does not match its hash)` };
        }
      }
    }
    const signed = this.checkpoints.get(r.seq);
    if (signed !== undefined && signed !== hash) {
      const where = this.#anchoredAt.get(r.seq);
      return {
        seq: r.seq,
        reason: `record ${r.seq} differs from the signed checkpoint${where ? ` anchored in ${where}` : ''} (the chain was rewritten)`,
      };
    }
    this.#prevHash = hash;
    this.#expectedSeq += 1;
    this.records += 1;
    return undefined;
  }

  /** The head after the records pushed so far. */
  get head(): { seq: number; hash: string } | null {
    return this.#expectedSeq === (this.options.start?.seq ?? 0) + 1
      ? (this.options.start ?? null)
      : { seq: this.#expectedSeq - 1, hash: this.#prevHash };
  }
}

/** Options of {@link verifyAuditLog}. */
export interface VerifyOptions {
  batchSize?: number;
  /** Stores holding anchors outside the database; every anchor must match the database's checkpoints and be reached by the chain. */
  anchors?: AnchorStore[];
  /** The chain key; without it keyed links cannot be checked and count as altered. */
  chainKey?: Buffer;
}

/**
 * Verify the chain, every checkpoint signature, and the chain against the anchors outside
 * the database: an anchored checkpoint missing from the database or different there, a chain
 * that stops below the newest anchor, or an anchor that is not validly signed all fail.
 */
export async function verifyAuditLog(
  db: Db,
  keys: SigningKeys,
  options: VerifyOptions = {},
): Promise<AuditVerification> {
  const batchSize = options.batchSize ?? 20_000;
  const checks: AnchorCheck[] = [];
  const fail = (records: number, seq: number, reason: string): AuditVerification => ({
    ok: false,
    records,
    seq,
    reason,
    anchors: checks,
  });
  const checkpoints = await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'asc').execute();
  const signed = new Map<number, string>();
  let keyedFrom: { value: number; seq: number } | undefined;
  for (const cp of checkpoints) {
    const seq = Number(cp.seq);
    const cpKeyedFrom = cp.keyed_from === null ? null : Number(cp.keyed_from);
    if (!keys.verify(cp.key_id, checkpointPayload(seq, cp.hash, cpKeyedFrom), cp.signature)) {
      return fail(0, seq, `checkpoint at seq ${seq} has an invalid signature`);
    }
    if (cpKeyedFrom !== null) {
      if (keyedFrom && keyedFrom.value !== cpKeyedFrom)
        return fail(
          0,
          seq,
          `checkpoints at seq ${keyedFrom.seq} and ${seq} disagree on where keyed links start (${keyedFrom.value} and ${cpKeyedFrom})`,
        );
      keyedFrom ??= { value: cpKeyedFrom, seq };
    }
    signed.set(seq, cp.hash);
  }

  const anchoredAt = new Map<number, string>();
  let newestAnchor: { seq: number; where: string } | undefined;
  for (const store of options.anchors ?? []) {
    let listed;
    try {
      listed = await store.list();
    } catch (error) {
      checks.push({ where: store.where, count: 0, newestSeq: null });
      return fail(0, 0, `cannot read the anchors in ${store.where}: ${(error as Error).message}`);
    }
    const newest = listed[listed.length - 1];
    checks.push({ where: store.where, count: listed.length, newestSeq: newest?.seq ?? null });
    for (const a of listed) {
      const inDb = signed.get(a.seq);
      if (inDb === a.hash) {
        if (!anchoredAt.has(a.seq)) anchoredAt.set(a.seq, store.where);
        continue;
      }
      // Not in the database as anchored: which of the two was tampered with, the anchor's signature says.
      const full = await a.load();
      if (
        !full ||
        full.seq !== a.seq ||
        full.hash !== a.hash ||
        !keys.verify(full.keyId, checkpointPayload(full.seq, full.hash, full.keyedFrom), full.signature)
      ) {
        return fail(
          0,
          a.seq,
          `the anchor at seq ${a.seq} in ${store.where} is not validly signed (the anchor store was tampered with)`,
        );
      }
      return fail(
        0,
        a.seq,
        inDb === undefined
          ? `checkpoint ${a.seq} anchored in ${store.where} is missing from the database (checkpoints were deleted)`
          : `checkpoint ${a.seq} in the database differs from the one anchored in ${store.where} (the chain was rewritten)`,
      );
    }
    if (newest && (!newestAnchor || newest.seq > newestAnchor.seq))
      newestAnchor = { seq: newest.seq, where: store.where };
  }

  const verifier = new ChainVerifier(signed, { key: options.chainKey, keyedFrom: keyedFrom?.value, anchoredAt });
  const fetchAfter = (afterSeq: number) =>
    db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', afterSeq as never)
      .orderBy('seq', 'asc')
      .limit(batchSize)
      .execute();
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
        return fail(verifier.records, broken.seq, broken.reason);
      }
    }
  }
  const records = verifier.records;
  if (newestAnchor && newestAnchor.seq > records) {
    return fail(
      records,
      records + 1,
      `records after ${records} are missing (a signed checkpoint anchored in ${newestAnchor.where} covers seq ${newestAnchor.seq})`,
    );
  }
  const lastCheckpoint = checkpoints[checkpoints.length - 1];
  if (lastCheckpoint && Number(lastCheckpoint.seq) > records) {
    return fail(
      records,
      records + 1,
      `records after ${records} are missing (a signed checkpoint covers seq ${Number(lastCheckpoint.seq)})`,
    );
  }
  return {
    ok: true,
    records,
    head: verifier.head,
    checkpoints: checkpoints.length,
    keyedFrom: keyedFrom?.value ?? verifier.keyedFrom,
    anchors: checks,
  };
}
