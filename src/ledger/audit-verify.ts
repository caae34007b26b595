/**
 * Verification of the whole audit log: every checkpoint signature, the chain record by record,
 * and the chain against the anchors held outside the database.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../schema.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import type { AnchorStore } from './audit-anchors.js';
import { ChainVerifier, checkpointPayload, toRecord } from './audit-chain.js';
import type { AnchorCheck, AuditVerification } from './audit-types.js';

type Db = Kysely<Schema> | Transaction<Schema>;

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
