/**
 * Where the SDK learns that a tenant changed: it polls `GET /v1/events?after=` (default),
 * or subscribes to NATS `tenancy.events.>` when the app is given the NATS URL. Either way
 * it only invalidates caches; the next request reads the fresh context. `healthy()` is
 * false while the feed is behind, so the caches stop trusting what they hold.
 */
import type { TenancyClient } from './tenancy-client.js';
import type { TenancyEvent } from './types.js';

/** Receives every event the feed sees. */
export type EventListener = (event: TenancyEvent) => void;

/** A source of control-plane events. */
export interface EventFeed {
  /** Start following; resolves once the feed is caught up (or subscribed). */
  start(): Promise<void>;
  /** Whether the feed is current: a cache may trust entries only while this holds. */
  healthy(): boolean;
  /** Called when the feed lost events it cannot replay (NATS reconnect): drop every cache entry. */
  onReset(listener: () => void): void;
  onEvent(listener: EventListener): void;
  close(): Promise<void>;
}

/** The history a feed replays at start: credential revocations. */
const REVOKED = 'tenancy.apikey.revoked';

/** Hand every revocation in the outbox to the listeners (a revoked credential must stay refused after a start). */
async function replayRevocations(client: TenancyClient, listeners: readonly EventListener[]): Promise<void> {
  let after = 0;
  for (;;) {
    const page = await client.events(after, 1000, REVOKED);
    for (const event of page.items) for (const listener of listeners) listener(event);
    if (page.next === null) return;
    after = page.next;
  }
}

/** Options for {@link PollingEventFeed}. */
export interface PollingFeedOptions {
  /** Time between polls (default 200 ms: a suspension is seen well within a second). */
  intervalMs?: number;
  /** The feed counts as behind when its last successful poll is older than this (default 2000 ms). */
  maxLagMs?: number;
  /** Called with poll failures (the feed keeps trying). */
  onError?: (error: unknown) => void;
}

/** Polls the replay API from the head of the outbox onwards. */
export class PollingEventFeed implements EventFeed {
  readonly #listeners: EventListener[] = [];
  readonly #resets: Array<() => void> = [];
  readonly #intervalMs: number;
  readonly #maxLagMs: number;
  #cursor = 0;
  #lastOkAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #started: Promise<void> | undefined;

  constructor(
    private readonly client: TenancyClient,
    private readonly options: PollingFeedOptions = {},
  ) {
    this.#intervalMs = options.intervalMs ?? 200;
    this.#maxLagMs = options.maxLagMs ?? 2_000;
  }

  onEvent(listener: EventListener): void {
    this.#listeners.push(listener);
  }

  onReset(listener: () => void): void {
    this.#resets.push(listener);
  }

  /**
   * Follow from the outbox's head as of now. Of the history before it only revocations
   * matter (a revoked credential must stay refused), so only those are replayed to the
   * listeners; reading the head first means nothing after it is missed. Replaying the whole
   * outbox instead would cost a large platform's app seconds and megabytes at every start.
   */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const first = await this.client.events(undefined, 1);
      if (first.head === undefined) {
        // A control plane that does not tell its head: read through the history.
        await this.#poll();
      } else {
        await replayRevocations(this.client, this.#listeners);
        this.#cursor = first.head;
        this.#lastOkAt = Date.now();
      }
      this.#schedule();
    })().catch((error: unknown) => {
      // A failed start (the control plane was down) is tried again by the next caller.
      this.#started = undefined;
      throw error;
    });
    return this.#started;
  }

  healthy(): boolean {
    return !this.#closed && Date.now() - this.#lastOkAt <= this.#maxLagMs;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#poll()
        .catch((error: unknown) => this.options.onError?.(error))
        .finally(() => this.#schedule());
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    for (;;) {
      const page = await this.client.events(this.#cursor, 1000);
      for (const event of page.items) {
        this.#cursor = Math.max(this.#cursor, Number(event.sequence));
        for (const listener of this.#listeners) listener(event);
      }
      if (page.next === null) break;
    }
    this.#lastOkAt = Date.now();
  }
}

/** Options for {@link NatsEventFeed}. */
export interface NatsFeedOptions {
  /** `nats://host:port`. */
  url: string;
  /** Subject prefix the control plane publishes on (default `tenancy.events`). */
  subjectPrefix?: string;
}

/** Minimal view of a NATS connection (the client library is loaded only when NATS is configured). */
interface NatsLike {
  subscribe(
    subject: string,
    options: { callback: (error: Error | null, msg: { string(): string }) => void },
  ): { unsubscribe(): void };
  status(): AsyncIterable<{ type: string }>;
  flush(): Promise<void>;
  isClosed(): boolean;
  close(): Promise<void>;
}

/**
 * Subscribes to the control plane's NATS subjects. Core NATS delivers only while connected,
 * so a disconnect marks the feed behind and a reconnect resets every cache.
 */
export class NatsEventFeed implements EventFeed {
  readonly #listeners: EventListener[] = [];
  readonly #resets: Array<() => void> = [];
  #nc: NatsLike | undefined;
  #connected = false;

  constructor(
    private readonly options: NatsFeedOptions,
    /** Where the revocations from before the subscription are read (the control plane's replay API). */
    private readonly client?: TenancyClient,
  ) {}

  onEvent(listener: EventListener): void {
    this.#listeners.push(listener);
  }

  onReset(listener: () => void): void {
    this.#resets.push(listener);
  }

  async start(): Promise<void> {
    if (this.#nc) return;
    const { connect } = await import('@nats-io/transport-node');
    const nc = (await connect({
      servers: this.options.url.replace(/^nats:\/\//, ''),
      timeout: 5_000,
      maxReconnectAttempts: -1,
    })) as unknown as NatsLike;
    this.#nc = nc;
    nc.subscribe(`${this.options.subjectPrefix ?? 'tenancy.events'}.>`, {
      callback: (error, msg) => {
        if (error) return;
        let event: TenancyEvent;
        try {
          event = JSON.parse(msg.string()) as TenancyEvent;
        } catch {
          return;
        }
        for (const listener of this.#listeners) listener(event);
      },
    });
    await nc.flush();
    // Core NATS has no history: revocations from before the subscription come from the
    // replay API, read after subscribing so that none falls between the two.
    if (this.client) {
      try {
        await replayRevocations(this.client, this.#listeners);
      } catch (error) {
        this.#nc = undefined;
        await nc.close().catch(() => undefined);
        throw error;
      }
    }
    this.#connected = true;
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') this.#connected = false;
        if (status.type === 'reconnect') {
          this.#connected = true;
          for (const reset of this.#resets) reset();
        }
      }
    })().catch(() => undefined);
  }

  healthy(): boolean {
    return this.#connected && this.#nc !== undefined && !this.#nc.isClosed();
  }

  async close(): Promise<void> {
    this.#connected = false;
    await this.#nc?.close().catch(() => undefined);
  }
}
