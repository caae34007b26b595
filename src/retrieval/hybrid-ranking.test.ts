/**
 * Reciprocal rank fusion and unit vectors: the arithmetic hybrid ranking rests on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuseRankings, RRF_K } from './hybrid-ranking.js';
import { unitVector } from './vectors.js';

const row = (documentId: string, seq = 1) => ({ document_id: documentId, seq, text: documentId });

describe('fuseRankings', () => {
  it('sums 1 / (k + rank) over the lists a chunk is in, best first, and says which lists', () => {
    const fused = fuseRankings([row('a'), row('c')], [row('b'), row('c'), row('a')], 10);
    expect(fused.map((r) => [r.document_id, r.match, r.score])).toEqual([
      ['a', ['lexical', 'vector'], 1 / (RRF_K + 1) + 1 / (RRF_K + 3)],
      ['c', ['lexical', 'vector'], 2 / (RRF_K + 2)],
      ['b', ['vector'], 1 / (RRF_K + 1)],
    ]);
  });

  it('keeps at most the limit, breaks ties by document and chunk, and tells chunks of one document apart', () => {
    const fused = fuseRankings([row('z', 2), row('y')], [row('y', 1), row('z', 1)], 3);
    expect(fused.map((r) => `${r.document_id}#${r.seq}`)).toEqual(['y#1', 'z#2', 'z#1']);
    // b and a tie (each first in one list): the document id decides.
    expect(fuseRankings([row('b')], [row('a')], 2).map((r) => r.document_id)).toEqual(['a', 'b']);
    expect(fuseRankings([row('a')], [], 0)).toEqual([]);
  });

  it('ranks a chunk in both lists above one at the same rank in only one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 50 }), (n, pos) => {
        const ids = Array.from({ length: n }, (_, i) => row(`d${i}`));
        const i = pos % n;
        const fused = fuseRankings(ids, [ids[i]!], n);
        expect(fused[0]!.document_id).toBe(`d${i}`);
        expect(fused).toHaveLength(n);
      }),
    );
  });
});

describe('unitVector', () => {
  it('scales to length 1 without overflowing, and leaves a zero vector zero', () => {
    expect(unitVector([3, 4])).toEqual([0.6, 0.8]);
    const huge = unitVector([1e300, 1e300]);
    expect(Math.hypot(...huge)).toBeCloseTo(1, 12);
    expect(unitVector([0, 0])).toEqual([0, 0]);
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 64 }), (v) => {
        const u = unitVector(v);
        if (v.every((x) => x === 0)) expect(u.every((x) => x === 0)).toBe(true);
        else expect(Math.hypot(...u)).toBeCloseTo(1, 9);
      }),
    );
  });
});
