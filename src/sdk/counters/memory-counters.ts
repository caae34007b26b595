/**
 * Counters in this process's memory (the default): the in-memory store of
 * rate-limiter-flexible, used directly. It counts synchronously, where the package's
 * `RateLimiterMemory.consume` wraps every count in a promise (same fixed windows, same
 * expiry).
 */
import { createRequire } from 'node:module';
import type { Counter, Counters, WindowCount } from './counters.js';

// The package's index loads every store it supports (Mongo, MySQL, DynamoDB, Etcd, ...),
// some 6 MiB of RSS an app never uses: only the store used here is loaded.
const load = createRequire(import.meta.url);

interface MemoryStorage {
  incrby(key: string, value: number, durationSec: number): WindowCount;
}
const MemoryStorage = load(
  'rate-limiter-flexible/lib/component/MemoryStorage/MemoryStorage.js',
) as new () => MemoryStorage;

/** Counters of this process. */
export class MemoryCounters implements Counters {
  readonly engine = 'memory' as const;

  fixedWindow(_name: string, windowSeconds: number): Counter {
    // Each counter its own store, so keys need no prefix.
    const memory = new MemoryStorage();
    return (key) => memory.incrby(key, 1, windowSeconds);
  }

  async close(): Promise<void> {}
}
