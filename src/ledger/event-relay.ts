/**
 * The relay: publishes outbox events to the bus as CloudEvents, in `seq` order per tenant,
 * at least once, and marks them published. It keeps no state of its own: whatever is not
 * marked is published again after a restart.
 *
 * Several control planes on one PostgreSQL: only the holder of a lease row relays (a
 * round renews it; a crashed holder's lease runs out and another replica takes over).
 * Publishing happens outside any transaction, so no connection is held during network
 * I/O (on PGlite the one connection serves everything). Marking re-checks the lease in
 * the marking transaction, and the `onPublished` hooks (webhook fan-out) run in that same
 * transaction, so a marked event has its deliveries and an unmarked one has none.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { EventBus } from '../infra/bus/index.js';
import type { Schema } from '../schema.js';
import { CLOUDEVENTS_JSON, PLATFORM_KEY, toCloudEvent, type CloudEvent } from './cloud-event.js';
import { toStoredEvent } from './event-outbox.js';
import type { StoredEvent } from './types.js';

/** Runs inside the marking transaction for the events just published. */
export type PublishedHook = (
  trx: Transaction<Schema>,
  events: Array<{ event: StoredEvent; cloudEvent: CloudEvent; body: string }>,
) => Promise<void>;

/** Relay settings. */
export interface EventRelayOptions {
  /** CloudEvents `source`, e.g. `/tenancy/default`; every replica of one installation uses the same. */
  source: string;
  /** Bus subjects are `<subjectPrefix>.<tenant id>` (platform events: `<subjectPrefix>._platform`). */
  subjectPrefix: string;
  batchSize?: number;
  pollIntervalMs?: number;
  leaseMs?: number;
  /** Longest wait after failed publishes (the wait doubles from `pollIntervalMs`). */
  maxBackoffMs?: number;
  onError?: (error: unknown, event?: StoredEvent) => void;
}

const LEASE_NAME = 'outbox';

/** Publishes the outbox. */
export class EventRelay {
  readonly holder = randomUUID();
  readonly #hooks: PublishedHook[] = [];
  readonly #committed: Array<() => void> = [];
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #leaseMs: number;
  readonly #maxBackoffMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #stopped = true;
  #failures = 0;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly bus: EventBus,
    private readonly options: EventRelayOptions,
  ) {
    this.#batchSize = options.batchSize ?? 200;
    this.#pollIntervalMs = options.pollIntervalMs ?? 200;
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  /** Add a hook that runs in the marking transaction (before start). */
  onPublished(hook: PublishedHook): void {
    this.#hooks.push(hook);
  }

  /** Call `listener` after each commit that marked events published (e.g. to wake the webhook worker). */
  onCommitted(listener: () => void): void {
    this.#committed.push(listener);
  }

  /** The bus subject of an event. */
  subjectOf(tenantId: string | null): string {
    return `${this.options.subjectPrefix}.${tenantId ?? PLATFORM_KEY}`;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stop polling and wait for a round in progress; the lease is given up so another replica can take over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
    await this.db
      .updateTable('event_relay_lease')
      .set({ lease_until: new Date(0).toISOString() })
      .where('name', '=', LEASE_NAME)
      .where('holder', '=', this.holder)
      .execute()
      .catch(() => undefined);
  }

  /** Run rounds until nothing is left to publish (or a round publishes nothing); resolves with the count published. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.runOnce();
      total += n;
      if (n === 0) return total;
    }
  }

  /** One round (never two at once in this process); resolves with how many events it published. */
  runOnce(): Promise<number> {
    const previous = this.#running ?? Promise.resolve(0);
    const next = previous.catch(() => 0).then(() => this.#round());
    this.#running = next;
    return next;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.runOnce()
        .catch((error) => {
          this.#failures += 1;
          this.options.onError?.(error);
        })
        .finally(() => {
          const backoff =
            this.#failures === 0
              ? this.#pollIntervalMs
              : Math.min(this.#maxBackoffMs, this.#pollIntervalMs * 2 ** Math.min(this.#failures, 16));
          this.#schedule(backoff);
        });
    }, delayMs);
    this.#timer.unref();
  }

  async #acquireLease(): Promise<boolean> {
    // Database time on both sides of the comparison, so replicas' clocks do not matter.
    const until = sql<string>`now() + ${this.#leaseMs} * interval '1 millisecond'`;
    const row = await this.db
      .insertInto('event_relay_lease')
      .values({ name: LEASE_NAME, holder: this.holder, lease_until: until })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder: this.holder, lease_until: until })
          .where((eb) =>
            eb.or([
              eb('event_relay_lease.holder', '=', this.holder),
              eb('event_relay_lease.lease_until', '<', sql<Date>`now()`),
            ]),
          ),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === this.holder;
  }

  async #round(): Promise<number> {
    if (!(await this.#acquireLease())) return 0;
    const rows = await this.db
      .selectFrom('outbox')
      .selectAll()
      .where('published_at', 'is', null)
      .orderBy('seq', 'asc')
      .limit(this.#batchSize)
      .execute();
    if (rows.length === 0) {
      this.#failures = 0;
      return 0;
    }
    const published: Array<{ event: StoredEvent; cloudEvent: CloudEvent; body: string }> = [];
    // A tenant whose event failed is skipped for the rest of the round, so its later events never overtake it.
    const blocked = new Set<string>();
    let failed = false;
    for (const row of rows) {
      const event = toStoredEvent(row);
      const key = event.tenantId ?? PLATFORM_KEY;
      if (blocked.has(key)) continue;
      const cloudEvent = toCloudEvent(event, this.options.source);
      const body = JSON.stringify(cloudEvent);
      try {
        await this.bus.publish({
          subject: this.subjectOf(event.tenantId),
          id: event.id,
          data: Buffer.from(body),
          contentType: CLOUDEVENTS_JSON,
        });
        published.push({ event, cloudEvent, body });
      } catch (error) {
        blocked.add(key);
        failed = true;
        this.options.onError?.(error, event);
      }
    }
    if (published.length > 0) {
      const marked = await this.db.transaction().execute(async (trx) => {
        const lease = await trx
          .selectFrom('event_relay_lease')
          .select('holder')
          .where('name', '=', LEASE_NAME)
          .forUpdate()
          .executeTakeFirst();
        // Another replica took over while we published: leave marking (and fan-out) to it; it republishes, which is at-least-once.
        if (lease?.holder !== this.holder) return false;
        await trx
          .updateTable('outbox')
          .set({ published_at: new Date().toISOString() })
          .where(
            'id',
            'in',
            published.map((p) => p.event.id),
          )
          .execute();
        for (const hook of this.#hooks) await hook(trx, published);
        return true;
      });
      if (marked) for (const listener of this.#committed) listener();
    }
    this.#failures = failed ? this.#failures + 1 : 0;
    return published.length;
  }
}
