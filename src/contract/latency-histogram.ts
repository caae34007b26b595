/**
 * The latency sketch of an SLI bucket: counts in fixed log-scale buckets, so buckets of any
 * minute, replica or source add up by adding arrays. The bounds are the round values a
 * latency objective names (1, 1.5, 2, 3, 5, 7 × 10ⁿ ms, from 1 ms to 500 s, then everything
 * slower), so a threshold on a bound is read exactly; one between bounds is read by linear
 * interpolation inside its bucket. 36 buckets.
 */

/** Upper bounds (ms, inclusive) of the buckets; the last is the overflow. */
export const LATENCY_BOUNDS_MS: readonly number[] = (() => {
  const out: number[] = [];
  for (let decade = 1; decade <= 100_000; decade *= 10)
    for (const m of [1, 1.5, 2, 3, 5, 7]) if (m * decade <= 500_000) out.push(m * decade);
  return [...out, Number.POSITIVE_INFINITY];
})();

export const BUCKETS = LATENCY_BOUNDS_MS.length;

/** The bucket of a latency (binary search over the bounds). */
export function bucketOf(ms: number): number {
  let lo = 0;
  let hi = BUCKETS - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= LATENCY_BOUNDS_MS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A new, empty histogram. */
export function emptyHistogram(): number[] {
  return new Array<number>(BUCKETS).fill(0);
}

/** Add `b` into `a` (arrays of any length up to {@link BUCKETS}). */
export function addInto(a: number[], b: readonly number[]): number[] {
  for (let i = 0; i < b.length && i < a.length; i++) a[i]! += b[i]!;
  return a;
}

/**
 * Events at or under `thresholdMs`: the buckets whose upper bound is at most the threshold,
 * plus the straddling bucket's share by linear interpolation.
 */
export function countAtOrUnder(h: readonly number[], thresholdMs: number): number {
  let n = 0;
  for (let i = 0; i < h.length; i++) {
    const upper = LATENCY_BOUNDS_MS[i]!;
    const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
    if (upper <= thresholdMs) n += h[i]!;
    else {
      if (thresholdMs > lower && Number.isFinite(upper)) n += (h[i]! * (thresholdMs - lower)) / (upper - lower);
      break;
    }
  }
  return n;
}
