/**
 * Counters port: fixed-window counters in memory (default) or in Redis, picked from
 * configuration in {@link connectCounters}.
 */
import type { Counters } from './counters.js';
import { MemoryCounters } from './memory-counters.js';
import { RedisCounters, type RedisCountersOptions } from './redis-counters.js';

export { MemoryCounters } from './memory-counters.js';
export { RedisCounters } from './redis-counters.js';
export type { RedisCountersOptions } from './redis-counters.js';
export type { Counter, Counters, WindowCount } from './counters.js';

/** Redis when `redisUrl` is set, else this process's memory. */
export async function connectCounters(
  options: { redisUrl?: string | undefined } & RedisCountersOptions = {},
): Promise<Counters> {
  return options.redisUrl ? RedisCounters.connect(options.redisUrl, options) : new MemoryCounters();
}
