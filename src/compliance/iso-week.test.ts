import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoWeekOf, lastCompleteWeek, parseIsoWeek, weeksInYear } from './iso-week.js';

describe('ISO weeks', () => {
  it('names the weeks of known dates', () => {
    expect(isoWeekOf(Date.parse('2026-12-08T02:00:00Z')).id).toBe('2026-W50');
    expect(isoWeekOf(Date.parse('2026-12-06T23:59:59.999Z')).id).toBe('2026-W49');
    // 1 January 2021 (a Friday) belongs to the last week of 2020, which has 53.
    expect(isoWeekOf(Date.parse('2021-01-01T12:00:00Z')).id).toBe('2020-W53');
    // 29 December 2025 (a Monday) starts week 1 of 2026.
    expect(isoWeekOf(Date.parse('2025-12-29T00:00:00Z')).id).toBe('2026-W01');
    expect(weeksInYear(2020)).toBe(53);
    expect(weeksInYear(2026)).toBe(53);
    expect(weeksInYear(2025)).toBe(52);
  });

  it('parses a week into its Monday-to-Monday bounds', () => {
    expect(parseIsoWeek('2026-W49')).toMatchObject({
      id: '2026-W49',
      from: new Date('2026-11-30T00:00:00Z'),
      to: new Date('2026-12-07T00:00:00Z'),
    });
    expect(lastCompleteWeek(Date.parse('2026-12-08T02:00:00Z')).id).toBe('2026-W49');
    expect(lastCompleteWeek(Date.parse('2026-12-07T00:00:00Z')).id).toBe('2026-W49');
  });

  it('refuses what is not a week', () => {
    for (const bad of ['2026-W54', '2025-W53', '2026-W00', '2026W49', '2026-w49', '2026-W4', '1969-W10', ''])
      expect(parseIsoWeek(bad)).toHaveProperty('error');
    expect(parseIsoWeek('2026-W53')).toHaveProperty('id', '2026-W53');
  });

  it('holds every instant in exactly the week it names, and parses that name back', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('1971-01-01'), max: Date.parse('2200-01-01') }), (at) => {
        const w = isoWeekOf(at);
        expect(w.from.getTime()).toBeLessThanOrEqual(at);
        expect(w.to.getTime()).toBeGreaterThan(at);
        expect(w.from.getUTCDay()).toBe(1);
        expect(parseIsoWeek(w.id)).toEqual(w);
      }),
    );
  });
});
