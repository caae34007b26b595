/**
 * The controller's work queue, keyed by tenant: one tenant is worked on by one worker at a
 * time, with bounded concurrency, exponential backoff with jitter on failure, and a periodic
 * resync. Queued tenants are first checked for work in batches, so a pass over many
 * unchanged tenants is a few reads.
 */

/** What the queue needs from its owner. */
export interface WorkQueueOptions {
  /** Workers at once (at least 1). */
  concurrency: number;
  /** Upper bound of the backoff after repeated failures. */
  maxBackoffMs: number;
  /** Period of {@link WorkQueue.start}'s resync. */
  resyncIntervalMs: number;
  /** Which of `ids` have work; the others are dropped from the queue. */
  withWork: (ids: string[]) => Promise<string[]>;
  /** Work on one tenant; a rejection is retried after a backoff. */
  run: (id: string) => Promise<void>;
  /** Queue every tenant that has work (run at start, then every `resyncIntervalMs`). */
  resync: () => Promise<unknown>;
  onError?: ((tenantId: string, error: unknown) => void) | undefined;
}

/** Tenants waiting, running and backing off; start() it once, stop() it on shutdown. */
export class WorkQueue {
  readonly #pending = new Set<string>();
  /** Queued, not yet checked for work: checked in batches, so a pass over many unchanged tenants is a few reads. */
  readonly #unchecked = new Set<string>();
  #triaging = false;
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, { attempts: number; retryAt: number }>();
  readonly #idle: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryAt = 0;
  #stopped = true;

  constructor(private readonly options: WorkQueueOptions) {}

  /** Begin taking work: an initial resync, then one every `resyncIntervalMs`. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.options.resync();
    this.#timer = setInterval(() => void this.options.resync(), this.options.resyncIntervalMs);
    this.#timer.unref();
  }

  /** Stop taking work and wait for running work to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#pending.clear();
    this.#unchecked.clear();
    await this.idle();
  }

  /** Resolves when nothing is running or ready to run (tenants waiting out a backoff do not count). */
  idle(): Promise<void> {
    if (this.#quiet()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #quiet(): boolean {
    const now = Date.now();
    return (
      this.#running.size === 0 &&
      this.#unchecked.size === 0 &&
      !this.#triaging &&
      [...this.#pending].every((id) => (this.#failures.get(id)?.retryAt ?? 0) > now)
    );
  }

  /** Queue a tenant; a tenant already running is worked on again after it finishes. */
  enqueue(id: string): void {
    if (this.#stopped) return;
    if (this.#running.has(id)) this.#dirty.add(id);
    else if (this.#pending.has(id) || this.#failures.has(id)) this.#pending.add(id);
    else {
      this.#unchecked.add(id);
      this.#triage();
    }
    this.#pump();
  }

  /** Move queued tenants that have work (one read per batch of up to 500) to the work queue; drop the rest. */
  #triage(): void {
    if (this.#triaging) return;
    this.#triaging = true;
    void (async () => {
      try {
        while (this.#unchecked.size > 0 && !this.#stopped) {
          const batch = [...this.#unchecked].slice(0, 500);
          for (const id of batch) this.#unchecked.delete(id);
          let due: string[];
          try {
            due = await this.options.withWork(batch);
          } catch (error) {
            // Unable to tell: work on them all (each run checks again).
            this.options.onError?.('*', error);
            due = batch;
          }
          for (const id of due) {
            if (this.#running.has(id)) this.#dirty.add(id);
            else this.#pending.add(id);
          }
          this.#pump();
        }
      } finally {
        this.#triaging = false;
        if (this.#stopped || this.#quiet()) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      }
    })();
  }

  #pump(): void {
    const now = Date.now();
    for (const id of [...this.#pending]) {
      if (this.#running.size >= this.options.concurrency) break;
      const failure = this.#failures.get(id);
      if (failure && failure.retryAt > now) continue;
      this.#pending.delete(id);
      this.#running.add(id);
      void this.options
        .run(id)
        .then(() => this.#failures.delete(id))
        .catch((error) => {
          const attempts = (this.#failures.get(id)?.attempts ?? 0) + 1;
          const base = Math.min(this.options.maxBackoffMs, 250 * 2 ** (attempts - 1));
          const delay = base / 2 + Math.random() * (base / 2);
          this.#failures.set(id, { attempts, retryAt: Date.now() + delay });
          this.options.onError?.(id, error);
          this.#dirty.add(id);
          this.#scheduleRetry(delay);
        })
        .finally(() => {
          this.#running.delete(id);
          if (this.#dirty.delete(id) && !this.#stopped) this.#pending.add(id);
          this.#pump();
          if (this.#stopped || this.#quiet()) {
            for (const resolve of this.#idle.splice(0)) resolve();
          }
        });
    }
  }

  /** Wake the pump when the earliest backoff ends (a later timer is replaced by an earlier one). */
  #scheduleRetry(delayMs: number): void {
    if (this.#stopped) return;
    const at = Date.now() + delayMs;
    if (this.#retryTimer && this.#retryAt <= at) return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryAt = at;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pump();
      const next = Math.min(...[...this.#pending].map((id) => this.#failures.get(id)?.retryAt ?? Infinity));
      if (Number.isFinite(next)) this.#scheduleRetry(Math.max(0, next - Date.now()));
    }, delayMs);
    this.#retryTimer.unref();
  }
}
