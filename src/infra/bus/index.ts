/**
 * Event-bus port: in-process (default) or NATS JetStream, picked from configuration in
 * {@link connectEventBus}.
 */
import type { EventBus } from './event-bus.js';
import { MemoryEventBus } from './memory-bus.js';
import { NatsEventBus, type NatsBusOptions } from './nats-bus.js';

export { MemoryEventBus } from './memory-bus.js';
export { NatsEventBus } from './nats-bus.js';
export type { NatsBusOptions } from './nats-bus.js';
export type { BusHandler, BusMessage, EventBus } from './event-bus.js';

/** NATS JetStream when `natsUrl` is set, else the in-process bus. */
export async function connectEventBus(options: { natsUrl?: string | undefined } & NatsBusOptions): Promise<EventBus> {
  return options.natsUrl ? NatsEventBus.connect(options.natsUrl, options) : new MemoryEventBus();
}
