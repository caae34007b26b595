/**
 * The in-process bus: subscribers in this process get each message in publish order.
 * Publishing awaits every matching subscriber, and fails if one fails, so the relay keeps
 * the event unpublished and retries it (at least once; a subscriber can see a repeat).
 */
import { subjectMatches } from '../queue/index.js';
import type { BusHandler, BusMessage, EventBus } from './event-bus.js';

/** In-process publish/subscribe. */
export class MemoryEventBus implements EventBus {
  readonly engine = 'memory' as const;
  readonly #subscribers = new Set<{ filter: string; handler: BusHandler }>();

  async publish(message: BusMessage): Promise<void> {
    const failures: unknown[] = [];
    for (const s of [...this.#subscribers]) {
      if (!subjectMatches(s.filter, message.subject)) continue;
      try {
        await s.handler(message);
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0)
      throw new AggregateError(failures, `${failures.length} subscriber(s) failed on ${message.subject}`);
  }

  async subscribe(filter: string, handler: BusHandler): Promise<() => Promise<void>> {
    const entry = { filter, handler };
    this.#subscribers.add(entry);
    return async () => {
      this.#subscribers.delete(entry);
    };
  }

  async close(): Promise<void> {
    this.#subscribers.clear();
  }
}
