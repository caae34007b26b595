/**
 * The event-bus port: publish a message to a subject, at least once, and subscribe to a
 * subject filter (NATS wildcards `*` and `>`). Engines: an in-process bus (default;
 * subscribers in the same process) and NATS JetStream (`TENANCY_NATS_URL`). The relay in
 * `governance` feeds it from the outbox, so the bus itself keeps no state.
 */

/** One message on the bus. */
export interface BusMessage {
  subject: string;
  /** Unique id; JetStream drops a second message with the same id (`Nats-Msg-Id`). */
  id: string;
  data: Buffer;
  /** Media type of `data`. */
  contentType: string;
}

/** A subscriber; a rejection makes the in-process publish fail, so the relay retries. */
export type BusHandler = (message: BusMessage) => void | Promise<void>;

/** Publish and subscribe. */
export interface EventBus {
  readonly engine: 'memory' | 'nats';
  /** Resolves once the message is stored (NATS) or every subscriber has taken it (in-process). */
  publish(message: BusMessage): Promise<void>;
  /** Receive messages published from now on whose subject matches `filter`; returns an unsubscribe function. */
  subscribe(filter: string, handler: BusHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
