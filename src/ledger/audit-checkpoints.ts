/**
 * Checkpoints of the audit chain and their anchoring outside the database: signing the head,
 * writing anchors to their stores (retrying a store that fails), and refusing to anchor a
 * head that does not extend what is already anchored. The {@link AuditLog} owns one.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { TenancyError } from '../errors.js';
import type { Schema } from '../schema.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import type { AnchorStore, AuditAnchor } from './audit-anchors.js';
import { CHECKPOINT_INTERVAL, ChainVerifier, checkpointPayload, toRecord } from './audit-chain.js';
import type { AnchoringOptions, AuditEntry, AuditRecord } from './audit-types.js';
import { addEvent } from './event-outbox.js';
import type { Actor } from './types.js';

/** The advisory lock that serializes appends to the chain. */
export const AUDIT_LOCK_ID = 7_480_001;
const SYSTEM_AUDIT: Actor = { id: 'system:audit', correlationId: null };
const MAX_PENDING_ANCHORS = 1000;

type Db = Kysely<Schema> | Transaction<Schema>;
type Append = (trx: Transaction<Schema>, actor: Actor, entry: AuditEntry) => Promise<AuditRecord>;

/**
 * Signs and anchors the audit log's checkpoints, and knows from which `seq` links are keyed.
 * `append` is the log's own, used to key a chain written before keyed links.
 */
export class CheckpointAnchorer {
  /** First keyed `seq`, once a signed checkpoint or anchor has said it. */
  keyedFrom: number | undefined;
  /** Where anchors are written; none until {@link start}. */
  stores: AnchorStore[] = [];
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
    private readonly chainKey: Buffer,
    private readonly append: Append,
  ) {}

  /**
   * Start anchoring checkpoints in `stores`: now (the head as found, after appending an
   * `audit.chain_keyed` record if the chain has no keyed link yet), every
   * `everyRecords` appends, every `intervalMs` while there are appends, and at close.
   */
  async start(options: AnchoringOptions): Promise<void> {
    this.stores = options.stores;
    this.#options = {
      intervalMs: options.intervalMs ?? this.#options.intervalMs,
      everyRecords: options.everyRecords ?? this.#options.everyRecords,
      minSpacingMs: options.minSpacingMs ?? this.#options.minSpacingMs,
      onError: options.onError ?? this.#options.onError,
    };
    // Where the anchored history ends: the newest validly signed anchor in any store.
    for (const store of this.stores) {
      let latest: AuditAnchor | undefined;
      try {
        latest = await store.latest();
      } catch (error) {
        this.#options.onError(
          new TenancyError(
            'audit_anchor_unavailable',
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
      if (latest.keyedFrom !== null) this.keyedFrom ??= latest.keyedFrom;
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
      if ((this.keyedFrom ?? (await this.signedKeyedFrom(trx))) !== undefined) return;
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
      const keyedFrom = this.keyedFrom ?? (await this.signedKeyedFrom(trx)) ?? null;
      // The checkpoint an append (every 100 records) or another replica already wrote there, else a new one.
      let a = await this.insertCheckpoint(trx, seq, head.hash, keyedFrom, { ifAbsent: true });
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
            `the audit checkpoint at seq ${seq} in the database is not validly signed for the record there; not anchoring`,
          );
        }
      }
      await addEvent(trx, SYSTEM_AUDIT, { type: 'audit.checkpoint', tenantId: null, payload: { ...a } });
      return a;
    });
    if (anchor.keyedFrom !== null) this.keyedFrom ??= anchor.keyedFrom;
    // A store that stays unreachable keeps its newest anchors waiting, not every one since.
    for (const store of this.stores)
      this.#pending.set(store, [...(this.#pending.get(store) ?? []), anchor].slice(-MAX_PENDING_ANCHORS));
    this.#anchored = { seq, hash: anchor.hash };
    await this.#flushPending();
    return anchor;
  }

  /** Write each store's waiting anchors, oldest first; a store that fails keeps its own and is retried next time. */
  async #flushPending(): Promise<void> {
    for (const store of this.stores) {
      const waiting = this.#pending.get(store) ?? [];
      while (waiting.length > 0) {
        try {
          await store.write(waiting[0]!);
          waiting.shift();
        } catch (error) {
          this.#options.onError(
            new TenancyError(
              'audit_anchor_unavailable',
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
        `the audit chain no longer extends the anchored checkpoint at seq ${from.seq}: ${reason}; not anchoring (run tenancy audit verify)`,
      );
    if (toSeq < from.seq) throw broken(`it ends at seq ${toSeq}`);
    const at = await this.db
      .selectFrom('audit_log')
      .select('hash')
      .where('seq', '=', from.seq as never)
      .executeTakeFirst();
    if (at?.hash !== from.hash) throw broken(at ? `record ${from.seq} differs` : `record ${from.seq} is missing`);
    const keyedFrom = this.keyedFrom ?? (await this.signedKeyedFrom(this.db));
    const verifier = new ChainVerifier(new Map(), { key: this.chainKey, keyedFrom, start: from });
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

  /** Note an appended record: anchor soon when `everyRecords` were appended since the last anchor. */
  noteAppend(seq: number): void {
    if (seq > this.#lastAppended) this.#lastAppended = seq;
    if (this.stores.length === 0 || this.#closed || this.#kicked) return;
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
  async signedKeyedFrom(db: Db): Promise<number | undefined> {
    if (this.keyedFrom !== undefined) return this.keyedFrom;
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
        this.keyedFrom = keyedFrom;
        return keyedFrom;
      }
    }
    return undefined;
  }

  /** Sign and insert the checkpoint at `seq`; with `ifAbsent`, undefined when one is already there. */
  async insertCheckpoint(
    trx: Transaction<Schema>,
    seq: number,
    hash: string,
    keyedFrom: number | null,
  ): Promise<AuditAnchor>;
  async insertCheckpoint(
    trx: Transaction<Schema>,
    seq: number,
    hash: string,
    keyedFrom: number | null,
    options: { ifAbsent: true },
  ): Promise<AuditAnchor | undefined>;
  async insertCheckpoint(
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
}
