/**
 * ISO 8601 weeks (`2026-W49`) in UTC: a week runs from Monday 00:00 to the next Monday 00:00,
 * and week 1 of a year is the one holding its 4 January, so a year has 52 or 53 weeks.
 */

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
const PATTERN = /^([0-9]{4})-W([0-9]{2})$/;

/** One ISO week: its name and its bounds (`to` exclusive). */
export interface IsoWeek {
  id: string;
  year: number;
  week: number;
  from: Date;
  to: Date;
}

/** Monday 00:00 UTC of week 1 of ISO year `year`. */
function weekOneMonday(year: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  const weekday = (new Date(jan4).getUTCDay() + 6) % 7; // Monday = 0
  return jan4 - weekday * DAY_MS;
}

/** How many weeks ISO year `year` has (52 or 53). */
export function weeksInYear(year: number): number {
  return Math.round((weekOneMonday(year + 1) - weekOneMonday(year)) / WEEK_MS);
}

function weekOf(year: number, week: number): IsoWeek {
  const from = weekOneMonday(year) + (week - 1) * WEEK_MS;
  return {
    id: `${String(year).padStart(4, '0')}-W${String(week).padStart(2, '0')}`,
    year,
    week,
    from: new Date(from),
    to: new Date(from + WEEK_MS),
  };
}

/** The week `text` names (`YYYY-Www`), or a message saying why it names none. */
export function parseIsoWeek(text: string): IsoWeek | { error: string } {
  const m = PATTERN.exec(text);
  if (!m) return { error: 'must be an ISO week such as 2026-W49' };
  const year = Number(m[1]);
  const week = Number(m[2]);
  if (year < 1970) return { error: 'must be a week from 1970 on' };
  const weeks = weeksInYear(year);
  if (week < 1 || week > weeks) return { error: `week must be 01..${weeks} in ${year}` };
  return weekOf(year, week);
}

/** The ISO week holding instant `at` (epoch ms). */
export function isoWeekOf(at: number): IsoWeek {
  const day = at - (((at % DAY_MS) + DAY_MS) % DAY_MS);
  const monday = day - ((new Date(day).getUTCDay() + 6) % 7) * DAY_MS;
  // The ISO year is the calendar year of the week's Thursday.
  const year = new Date(monday + 3 * DAY_MS).getUTCFullYear();
  return weekOf(year, Math.round((monday - weekOneMonday(year)) / WEEK_MS) + 1);
}

/** The last week that has ended by `at`. */
export function lastCompleteWeek(at: number): IsoWeek {
  return isoWeekOf(isoWeekOf(at).from.getTime() - 1);
}
