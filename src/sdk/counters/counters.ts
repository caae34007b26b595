/**
 * The counters port: fixed-window counters shared by rate limits (how many requests a
 * tenant or a credential made in the current window). Engines: in memory (default; counts
 * of this process) and Redis (`redis://`; every instance of an app counts together).
 *
 * A counter answers synchronously when it can (in memory: no promise, no microtask, which
 * is most of a limiter's cost on a busy route) and with a promise when the count is
 * elsewhere; callers look at the answer, never at the engine.
 *
 * The port sits in the SDK, not in `infra/`: the SDK (a subpath export apps install) is its
 * only user and imports nothing of the server's, `infra/` included (test/sdk.test.ts).
 */

/** A key's count in its current window. */
export interface WindowCount {
  /** Hits in the window, this one included. */
  readonly consumedPoints: number;
  /** Milliseconds until the window ends and the count starts again. */
  readonly msBeforeNext: number;
}

/**
 * Count one hit for `key`: the count at once, or a promise of it that resolves with
 * `undefined` when the store cannot answer (it never rejects: what a missing answer means
 * is the caller's choice).
 */
export type Counter = (key: string) => WindowCount | Promise<WindowCount | undefined>;

/** Fixed-window counters on one engine. */
export interface Counters {
  readonly engine: 'memory' | 'redis';
  /**
   * The counter named `name` with windows of `windowSeconds`: its keys are its own (two
   * counters never see each other's counts for the same key), and a key's first hit opens
   * its window.
   */
  fixedWindow(name: string, windowSeconds: number): Counter;
  close(): Promise<void>;
}
