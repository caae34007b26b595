import type { Cluster, Redis } from 'ioredis';
import {
  assertMicros,
  newReservation,
  reserveArguments,
  reserveResult,
  windowKeys,
  windowUsage,
  type BudgetLedger,
  type BudgetLimits,
  type Reservation,
  type ReserveOptions,
  type ReserveResult,
  type WindowUsage,
} from './budget-ledger.js';

/** Options of {@link RedisBudgetLedger}. */
export interface RedisBudgetLedgerOptions {
  /** Prefix of the ledger's keys (default `tenancy:`). */
  keyPrefix?: string;
}

const DAY_SECONDS = 86_400;
/** Window keys outlive their window by enough for late settles and a look back. */
const DAY_KEY_TTL_SECONDS = 3 * DAY_SECONDS;
const MONTH_KEY_TTL_SECONDS = 40 * DAY_SECONDS;
/** Reservation keys last as long as the month window their holds are in. */
const RESERVATION_KEY_TTL_SECONDS = MONTH_KEY_TTL_SECONDS;

/** Shared by both scripts: a reservation's record is `amount|dayKey|monthKey|settled (0 or 1)`. */
const LUA_COMMON = `
local function parse(data)
  return string.match(data, '^(%d+)|([^|]+)|([^|]+)|([01])$')
end
local function release(key, amount)
  if amount == '0' or redis.call('EXISTS', key) == 0 then return end
  if redis.call('HINCRBY', key, 'reserved', '-' .. amount) < 0 then redis.call('HSET', key, 'reserved', 0) end
end
`;

/**
 * KEYS: day window, month window, expiry set, reservation records. ARGV: window key prefix,
 * day key, month key, day limit, month limit ('' = none), amount, now ms, expiry ms, id, and
 * the TTLs of day, month and reservation keys. Returns {exhausted ('' = held), day spent,
 * day reserved, month spent, month reserved} (integers: never through Lua's tostring, which
 * writes 1e+15). Swept windows' keys are built from the prefix:
 * they share the tenant's hash tag, so they live on the script's slot.
 */
const RESERVE_LUA = `${LUA_COMMON}
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[7])
for _, id in ipairs(expired) do
  local data = redis.call('HGET', KEYS[4], id)
  if data then
    local amount, day, month, settled = parse(data)
    if settled == '0' then
      release(ARGV[1] .. day, amount)
      release(ARGV[1] .. month, amount)
    end
    redis.call('HDEL', KEYS[4], id)
  end
  redis.call('ZREM', KEYS[3], id)
end
local function read(key)
  local v = redis.call('HMGET', key, 'spent', 'reserved')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0
end
local ds, dr = read(KEYS[1])
local ms, mr = read(KEYS[2])
local amount = tonumber(ARGV[6])
local exhausted = ''
if ARGV[4] ~= '' and ds + dr + amount > tonumber(ARGV[4]) then
  exhausted = 'day'
elseif ARGV[5] ~= '' and ms + mr + amount > tonumber(ARGV[5]) then
  exhausted = 'month'
else
  dr = redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[6])
  mr = redis.call('HINCRBY', KEYS[2], 'reserved', ARGV[6])
  redis.call('EXPIRE', KEYS[1], ARGV[10])
  redis.call('EXPIRE', KEYS[2], ARGV[11])
  redis.call('ZADD', KEYS[3], ARGV[8], ARGV[9])
  redis.call('HSET', KEYS[4], ARGV[9], ARGV[6] .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|0')
  redis.call('EXPIRE', KEYS[3], ARGV[12])
  redis.call('EXPIRE', KEYS[4], ARGV[12])
end
return {exhausted, ds, dr, ms, mr}
`;

/**
 * KEYS: day window, month window, reservation records. ARGV: id, actual, day key, month key,
 * TTLs of day and month keys. A known, unsettled reservation is released and marked settled
 * (its record goes with the next sweep after it expires); a settled one changes nothing; an
 * unknown one (swept) only adds the spend.
 */
const SETTLE_LUA = `${LUA_COMMON}
local held = '0'
local data = redis.call('HGET', KEYS[3], ARGV[1])
if data then
  local amount, day, month, settled = parse(data)
  if day == ARGV[3] and month == ARGV[4] then
    if settled == '1' then return 0 end
    held = amount
    redis.call('HSET', KEYS[3], ARGV[1], amount .. '|' .. day .. '|' .. month .. '|1')
  end
end
for i = 1, 2 do
  if ARGV[2] ~= '0' then redis.call('HINCRBY', KEYS[i], 'spent', ARGV[2]) end
  release(KEYS[i], held)
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[4 + i]) end
end
return 1
`;

/** The client with the ledger's scripts defined on it. */
type LedgerClient = (Redis | Cluster) & {
  aiBudgetReserve(...args: string[]): Promise<[string, number, number, number, number]>;
  aiBudgetSettle(...args: string[]): Promise<number>;
};

/** The budget ledger shared through Redis (or a Redis Cluster). */
export class RedisBudgetLedger implements BudgetLedger {
  readonly #redis: LedgerClient;
  readonly #prefix: string;
  /** What the client itself puts before KEYS, so keys built inside a script match. */
  readonly #clientPrefix: string;
  #owned = false;

  /** Use `redis` (still the caller's to close) with the ledger's scripts defined on it. */
  constructor(redis: Redis | Cluster, options: RedisBudgetLedgerOptions = {}) {
    redis.defineCommand('aiBudgetReserve', { numberOfKeys: 4, lua: RESERVE_LUA });
    redis.defineCommand('aiBudgetSettle', { numberOfKeys: 3, lua: SETTLE_LUA });
    this.#redis = redis as LedgerClient;
    this.#prefix = options.keyPrefix ?? 'tenancy:';
    const clientOptions = redis.options as { keyPrefix?: string; redisOptions?: { keyPrefix?: string } };
    this.#clientPrefix = clientOptions.keyPrefix ?? clientOptions.redisOptions?.keyPrefix ?? '';
  }

  /** Connect to Redis at `url` (the client is loaded only then); `close` disconnects it. */
  static async connect(url: string, options: RedisBudgetLedgerOptions = {}): Promise<RedisBudgetLedger> {
    const { Redis } = await import('ioredis');
    const redis = new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 2_000 });
    // Failures reach callers through their commands; the client's own event would be unhandled.
    redis.on('error', () => undefined);
    const ledger = new RedisBudgetLedger(redis, options);
    ledger.#owned = true;
    return ledger;
  }

  /** The tenant's keys, from the part before the hash tag to the tag's end. */
  #tenantKey(tenantId: string): string {
    return `${this.#prefix}ai:budget:{${tenantId}}:`;
  }

  async reserve(
    tenantId: string,
    limits: BudgetLimits,
    amountMicros: number,
    options?: ReserveOptions,
  ): Promise<ReserveResult> {
    const { now, expiresAt } = reserveArguments(limits, amountMicros, options);
    const { keys, reservation } = newReservation(tenantId, amountMicros, now);
    const base = this.#tenantKey(tenantId);
    const [exhausted, ...counts] = await this.#redis.aiBudgetReserve(
      `${base}win:${keys.day}`,
      `${base}win:${keys.month}`,
      `${base}res:expiry`,
      `${base}res:records`,
      `${this.#clientPrefix}${base}win:`,
      keys.day,
      keys.month,
      limits.dailyMicros === undefined ? '' : String(limits.dailyMicros),
      limits.monthlyMicros === undefined ? '' : String(limits.monthlyMicros),
      String(amountMicros),
      String(now.getTime()),
      String(expiresAt.getTime()),
      reservation.id,
      String(DAY_KEY_TTL_SECONDS),
      String(MONTH_KEY_TTL_SECONDS),
      String(RESERVATION_KEY_TTL_SECONDS),
    );
    const [daySpent, dayReserved, monthSpent, monthReserved] = counts.map(Number) as [number, number, number, number];
    return reserveResult(reservation, exhausted === '' ? null : (exhausted as 'day' | 'month'), limits, now, {
      daySpent,
      dayReserved,
      monthSpent,
      monthReserved,
    });
  }

  async settle(reservation: Reservation, actualMicros: number): Promise<void> {
    assertMicros('actualMicros', actualMicros);
    const base = this.#tenantKey(reservation.tenantId);
    await this.#redis.aiBudgetSettle(
      `${base}win:${reservation.dayKey}`,
      `${base}win:${reservation.monthKey}`,
      `${base}res:records`,
      reservation.id,
      String(actualMicros),
      reservation.dayKey,
      reservation.monthKey,
      String(DAY_KEY_TTL_SECONDS),
      String(MONTH_KEY_TTL_SECONDS),
    );
  }

  async status(tenantId: string, limits: BudgetLimits, now: Date = new Date()): Promise<WindowUsage[]> {
    const keys = windowKeys(now);
    const base = this.#tenantKey(tenantId);
    const results = await this.#redis
      .pipeline()
      .hmget(`${base}win:${keys.day}`, 'spent', 'reserved')
      .hmget(`${base}win:${keys.month}`, 'spent', 'reserved')
      .exec();
    const read = (i: number) => {
      const [error, value] = results?.[i] ?? [new Error('no reply')];
      if (error) throw error;
      return (value as Array<string | null>).map((v) => Number(v ?? 0));
    };
    const [[daySpent, dayReserved], [monthSpent, monthReserved]] = [read(0), read(1)] as [number[], number[]];
    return windowUsage(limits, now, {
      daySpent: daySpent!,
      dayReserved: dayReserved!,
      monthSpent: monthSpent!,
      monthReserved: monthReserved!,
    });
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
