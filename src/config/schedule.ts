/**
 * Retry schedules written as durations (`5s,5m,2h`), and the webhooks' default one.
 */

/** The default retry schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (eight attempts over about 28 hours). */
export const DEFAULT_WEBHOOK_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parse `5s,5m,2h` into milliseconds; undefined when malformed. */
export function parseSchedule(text: string): number[] | undefined {
  const parts = text.split(',').map((p) => p.trim());
  const out: number[] = [];
  for (const p of parts) {
    const m = DURATION.exec(p);
    if (!m) return undefined;
    out.push(Math.round(Number(m[1]) * UNIT_MS[m[2]!]!));
  }
  return out;
}
