/**
 * Hybrid ranking: reciprocal rank fusion of the full-text list and the vector list. Each
 * chunk scores the sum of 1 / (k + rank) over the lists it is in (k = 60, as in Cormack et
 * al.), so a chunk both lists rank well beats one either list ranks first, and neither
 * list's raw scores (incomparable: `ts_rank_cd` against cosine similarity) need calibrating.
 */

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The lists a retrieved chunk came from. */
export type MatchKind = 'lexical' | 'vector';

/** The fusion constant: larger flattens the advantage of the top ranks. */
export const RRF_K = 60;

/**
 * The union of both ranked lists, best fused score first (ties: document id, then chunk
 * sequence), at most `limit`; each row's `score` is its fused score and `match` the lists it
 * came from. A row's columns are taken from the first list that has it.
 */
export function fuseRankings<R extends Record<string, unknown>>(
  lexical: readonly R[],
  vector: readonly R[],
  limit: number,
): Array<R & { score: number; match: MatchKind[] }> {
  const fused = new Map<string, R & { score: number; match: MatchKind[] }>();
  const add = (rows: readonly R[], kind: MatchKind) =>
    rows.forEach((row, i) => {
      const key = `${row.document_id as string}\u0000${row.seq as number}`;
      const share = 1 / (RRF_K + i + 1);
      const seen = fused.get(key);
      if (seen) {
        seen.score += share;
        seen.match.push(kind);
      } else fused.set(key, { ...row, score: share, match: [kind] });
    });
  add(lexical, 'lexical');
  add(vector, 'vector');
  return [...fused.values()]
    .sort(
      (a, b) =>
        b.score - a.score ||
        byCodePoint(a.document_id as string, b.document_id as string) ||
        (a.seq as number) - (b.seq as number),
    )
    .slice(0, limit);
}
