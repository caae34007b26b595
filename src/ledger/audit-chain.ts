/**
 * The audit chain's links: how one record is hashed onto its predecessor (plain SHA-256 before
 * keyed links, HMAC-SHA256 under the chain key since), what a checkpoint signs, and the
 * {@link ChainVerifier} that checks records one at a time in `seq` order.
 */
import { createHash, createHmac } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Selectable } from 'kysely';
import type { Schema } from '../schema.js';
import type { AuditRecord } from './audit-types.js';

/** The `prevHash` of the first record. */
export const GENESIS_HASH = '0'.repeat(64);
/** A checkpoint is signed at least every this many records. */
export const CHECKPOINT_INTERVAL = 100;
/** HKDF label of the chain key, derived from the oldest audit signing key. */
export const CHAIN_KEY_LABEL = 'tenancy-audit-chain-link-v1';

/** A record's hashed fields: everything but its links. */
export type Record0 = Omit<AuditRecord, 'prevHash' | 'hash'>;

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

/** A stored `audit_log` row as an {@link AuditRecord}. */
export function toRecord(row: Selectable<Schema['audit_log']>): AuditRecord {
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
