/**
 * A worker over tenants' job queues that pulls fairly instead of first-in first-out: each
 * tenant's durable consumer (the queue mapper gives every tenant one) is fetched in small
 * batches, and the {@link FairScheduler} decides which tenant's job takes the next worker
 * slot: by weight (plan), each tenant held to its cap. A tenant with a million queued jobs
 * holds at most `prefetch` of them here, and the others' jobs go between its own.
 *
 * It works with any queue engine of the port (store-backed or NATS JetStream), typed
 * structurally so the SDK does not load server code.
 */
import { FairScheduler, PLAN_WEIGHTS, type ReleaseSlot } from './fair-scheduler.js';

/** A delivered message, as the queue port hands it out. */
export interface FairQueueMessage {
  subject: string;
  data: Uint8Array;
  deliveryCount: number;
  ack(): Promise<void>;
  nak(delayMs?: number): Promise<void>;
}

/** What the consumer uses of a queue engine (`JobQueue` has it). */
export interface FairQueueSource {
  fetch(stream: string, consumer: string, max: number, expiresMs?: number): Promise<FairQueueMessage[]>;
}

/** One tenant's consumer. */
export interface TenantQueueBinding {
  tenantId: string;
  stream: string;
  consumer: string;
  /** Plan, for the default weight. */
  plan?: string;
  /** Overrides the plan's weight. */
  weight?: number;
  /** Jobs of this tenant running at once (default 1/4 of `concurrency`, at least 1). */
  cap?: number;
}

/** Options for {@link FairQueueConsumer}. */
export interface FairQueueConsumerOptions {
  /** Jobs running at once across all tenants. */
  concurrency: number;
  /** Runs one job; a throw naks it for redelivery after `retryDelayMs`. */
  handler: (message: FairQueueMessage, tenantId: string) => Promise<void>;
  /**
   * Messages fetched per tenant at a time (default 1): what a backlog can hold here. On
   * NATS a fetch waits (up to `fetchExpiresMs`) until it has this many, so keep it small.
   */
  prefetch?: number;
  /** Wait before fetching again from a tenant whose queue was empty (default 200 ms). */
  idleMs?: number;
  /** How long a fetch may wait for messages (NATS; default 1000 ms). */
  fetchExpiresMs?: number;
  retryDelayMs?: number;
  weights?: Record<string, number>;
  /** Errors of fetches and acks (the consumer keeps going). */
  onError?: (error: unknown, tenantId: string) => void;
}

/** Consumes tenants' queues with weighted fair scheduling. */
export class FairQueueConsumer {
  readonly #scheduler: FairScheduler;
  readonly #bindings = new Map<string, TenantQueueBinding>();
  readonly #pumps = new Map<string, Promise<void>>();
  readonly #running = new Set<Promise<void>>();
  readonly #weights: Readonly<Record<string, number>>;
  readonly #prefetch: number;
  #stopped = true;

  constructor(
    private readonly queue: FairQueueSource,
    private readonly options: FairQueueConsumerOptions,
  ) {
    if (!(options.concurrency >= 1)) throw new RangeError('concurrency must be at least 1');
    this.#prefetch = Math.max(1, options.prefetch ?? 1);
    this.#scheduler = new FairScheduler({
      capacity: options.concurrency,
      maxQueuedPerTenant: 1,
      maxWaitMs: 2 ** 31 - 1,
    });
    this.#weights = { ...PLAN_WEIGHTS, ...options.weights };
  }

  /** Consume these tenants' queues (others stop being fetched; their jobs in hand still finish). */
  setTenants(bindings: TenantQueueBinding[]): void {
    this.#bindings.clear();
    for (const b of bindings) this.#bindings.set(b.tenantId, b);
    if (!this.#stopped) for (const id of this.#bindings.keys()) this.#pump(id);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    for (const id of this.#bindings.keys()) this.#pump(id);
  }

  /** Stop fetching and wait for the jobs in hand. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#pumps.values());
    await Promise.all(this.#running);
  }

  /** Jobs of a tenant running now, and waiting here for a slot. */
  running(tenantId: string): number {
    return this.#scheduler.running(tenantId);
  }

  queued(tenantId: string): number {
    return this.#scheduler.queued(tenantId);
  }

  #pump(tenantId: string): void {
    if (this.#pumps.has(tenantId)) return;
    const pump = this.#loop(tenantId).finally(() => this.#pumps.delete(tenantId));
    this.#pumps.set(tenantId, pump);
  }

  async #loop(tenantId: string): Promise<void> {
    const idleMs = this.options.idleMs ?? 200;
    while (!this.#stopped) {
      const binding = this.#bindings.get(tenantId);
      if (!binding) return;
      let batch: FairQueueMessage[];
      try {
        batch = await this.queue.fetch(
          binding.stream,
          binding.consumer,
          this.#prefetch,
          this.options.fetchExpiresMs ?? 1_000,
        );
      } catch (error) {
        this.options.onError?.(error, tenantId);
        await sleep(idleMs);
        continue;
      }
      if (batch.length === 0) {
        await sleep(idleMs);
        continue;
      }
      const share = {
        weight: binding.weight ?? this.#weights[binding.plan ?? ''] ?? 1,
        cap: binding.cap ?? Math.max(1, Math.floor(this.options.concurrency / 4)),
      };
      for (const message of batch) {
        // One waiter per tenant at a time: the scheduler picks among tenants, and the rest
        // of this batch stays here (leased, not lost) until this one has a slot.
        const release = await this.#scheduler.acquire(tenantId, share);
        this.#run(tenantId, message, release);
      }
    }
  }

  #run(tenantId: string, message: FairQueueMessage, release: ReleaseSlot): void {
    const job = (async () => {
      try {
        await this.options.handler(message, tenantId);
        await message.ack();
      } catch (error) {
        this.options.onError?.(error, tenantId);
        await message
          .nak(this.options.retryDelayMs ?? 1_000)
          .catch((e: unknown) => this.options.onError?.(e, tenantId));
      } finally {
        release();
      }
    })();
    this.#running.add(job);
    void job.finally(() => this.#running.delete(job));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}
