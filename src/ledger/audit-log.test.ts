/**
 * Properties of the hash chain: an intact chain verifies; changing any field of any
 * record, dropping, duplicating or swapping records is always found; a chain keyed from
 * some record on verifies with the key, and a plain-hashed record after the cut-over is
 * always found, whether or not a signed checkpoint says where keyed links start.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import canonicalize from 'canonicalize';
import { randomBytes } from 'node:crypto';
import { ChainVerifier, GENESIS_HASH, canonicalRecord, recordHash, recordLink } from './audit-chain.js';
import type { AuditRecord } from './audit-types.js';

const entry = fc.record({
  actor: fc.string({ minLength: 1, maxLength: 20 }),
  action: fc.constantFrom('tenant.create', 'tenant.update', 'apikey.create', 'tenant.suspend'),
  target: fc.string({ minLength: 1, maxLength: 30 }),
  tenantId: fc.option(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/), { nil: null }),
  correlationId: fc.option(fc.uuid(), { nil: null }),
  outcome: fc.constantFrom('success', 'denied'),
  details: fc.dictionary(
    fc.string({ maxLength: 8 }),
    fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean()),
  ),
});

const KEY = randomBytes(32);

/** A chain of `entries`, plain-hashed below `keyedFrom` and keyed from it on (never keyed when undefined). */
function chain(
  entries: Array<Omit<AuditRecord, 'seq' | 'id' | 'ts' | 'prevHash' | 'hash'>>,
  keyedFrom?: number,
): AuditRecord[] {
  let prevHash = GENESIS_HASH;
  return entries.map((e, i) => {
    const base = {
      ...e,
      seq: i + 1,
      id: `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`,
      ts: new Date(1_700_000_000_000 + i * 1000).toISOString(),
    };
    const hash =
      keyedFrom !== undefined && base.seq >= keyedFrom ? recordLink(KEY, prevHash, base) : recordHash(prevHash, base);
    const record = { ...base, prevHash, hash };
    prevHash = hash;
    return record;
  });
}

function verify(
  records: AuditRecord[],
  options: ConstructorParameters<typeof ChainVerifier>[1] = {},
): { seq: number; reason: string } | undefined {
  const v = new ChainVerifier(new Map(), options);
  for (const r of records) {
    const broken = v.push(r);
    if (broken) return broken;
  }
  return undefined;
}

describe('audit hash chain', () => {
  it('writes the same canonical JSON as the general RFC 8785 canonicalizer', () => {
    fc.assert(
      fc.property(entry, fc.nat(), fc.string(), fc.string(), (e, seq, id, ts) => {
        const r = { ...e, seq, id, ts, details: e.details };
        expect(canonicalRecord(r)).toBe(
          canonicalize({
            seq: r.seq,
            id: r.id,
            ts: r.ts,
            actor: r.actor,
            action: r.action,
            target: r.target,
            tenantId: r.tenantId,
            correlationId: r.correlationId,
            outcome: r.outcome,
            details: r.details,
          }),
        );
      }),
    );
  });

  it('verifies an intact chain', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 0, maxLength: 30 }), (entries) => verify(chain(entries)) === undefined),
    );
  });

  it('finds a change to any field of any record', () => {
    const fields = [
      'actor',
      'action',
      'target',
      'tenantId',
      'correlationId',
      'outcome',
      'details',
      'ts',
      'id',
    ] as const;
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.constantFrom(...fields),
        fc.string({ minLength: 1, maxLength: 5 }),
        (entries, pick, field, junk) => {
          const records = chain(entries);
          const i = pick % records.length;
          const r = records[i]!;
          const changed = field === 'details' ? { ...r.details, [`x${junk}`]: junk } : `${String(r[field])}${junk}`;
          records[i] = { ...r, [field]: changed } as AuditRecord;
          expect(verify(records)?.seq).toBe(i + 1);
        },
      ),
    );
  });

  it('finds dropped, duplicated and swapped records', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 3, maxLength: 20 }),
        fc.nat(),
        fc.constantFrom('drop', 'duplicate', 'swap'),
        (entries, pick, how) => {
          const records = chain(entries);
          const i = pick % (records.length - 1);
          if (how === 'drop') records.splice(i, 1);
          else if (how === 'duplicate') records.splice(i, 0, records[i]!);
          else [records[i], records[i + 1]] = [records[i + 1]!, records[i]!];
          expect(verify(records)).toBeDefined();
        },
      ),
    );
  });

  it('finds a chain recomputed after an edit when a signed checkpoint covers it', () => {
    const records = chain(
      Array.from({ length: 5 }, (_, i) => ({
        actor: 'a',
        action: 'tenant.create',
        target: `t${i}`,
        tenantId: null,
        correlationId: null,
        outcome: 'success',
        details: {},
      })),
    );
    const signed = new Map([[5, records[4]!.hash]]);
    const forged = chain(records.map((r, i) => ({ ...r, target: i === 2 ? 'forged' : r.target })));
    const v = new ChainVerifier(signed);
    const results = forged.map((r) => v.push(r));
    expect(results.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(results[4]?.reason).toContain('signed checkpoint');
  });

  it('verifies a chain keyed from any record on, with or without a signed cut-over', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 20 }), fc.nat(), (entries, pick) => {
        const keyedFrom = (pick % entries.length) + 1;
        const records = chain(entries, keyedFrom);
        expect(verify(records, { key: KEY, keyedFrom })).toBeUndefined();
        const v = new ChainVerifier(new Map(), { key: KEY });
        expect(records.map((r) => v.push(r)).filter(Boolean)).toEqual([]);
        expect(v.keyedFrom).toBe(keyedFrom);
        // Without the key, the keyed part cannot be checked.
        expect(verify(records)?.seq).toBe(keyedFrom);
      }),
    );
  });

  it('finds a plain-hashed record after the cut-over, linked correctly to its predecessor', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 2, maxLength: 20 }),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        (entries, pickCut, pickForged, signedCutOver) => {
          const keyedFrom = (pickCut % (entries.length - 1)) + 1;
          const forgedSeq = keyedFrom + 1 + (pickForged % (entries.length - keyedFrom));
          const records = chain(entries, keyedFrom);
          // Re-chain from the forged record on the plain way, as someone without the key would.
          let prev = records[forgedSeq - 2]!.hash;
          for (let i = forgedSeq - 1; i < records.length; i++) {
            const r = {
              ...records[i]!,
              actor: i === forgedSeq - 1 ? 'apikey:forged' : records[i]!.actor,
              prevHash: prev,
            };
            r.hash = recordHash(prev, r);
            records[i] = r;
            prev = r.hash;
          }
          const found = verify(records, { key: KEY, keyedFrom: signedCutOver ? keyedFrom : undefined });
          expect(found).toEqual({ seq: forgedSeq, reason: expect.stringContaining('written without the audit key') });
        },
      ),
    );
  });
});
