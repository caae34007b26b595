/**
 * The behaviour every budget ledger engine must have; run on PGlite, PostgreSQL and Redis so
 * all are held to the same contract: limits per UTC day and month that concurrent calls
 * cannot overspend, settles that count once, holds that expire, tenants kept apart.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetLedger, ReserveResult, WindowUsage } from '../../src/ai/budget-ledger.js';

/** A ledger for the suite; `another` opens a second one on the same shared state (another pool or client). */
export interface BudgetLedgerFixture {
  ledger: BudgetLedger;
  another?: () => Promise<BudgetLedger>;
  stop: () => Promise<void>;
}

const USD = 1_000_000;
const at = (iso: string) => new Date(iso);
const NOON = at('2031-03-15T12:00:00.000Z');

function held(result: ReserveResult) {
  if (!result.ok) throw new Error(`expected a hold, got exhausted ${result.exhausted.key}`);
  return result.reservation;
}

/** `[day, month]` as `[spent, reserved]` pairs, to compare at a glance. */
const counts = (windows: WindowUsage[]) => windows.map((w) => [w.spentMicros, w.reservedMicros]);

export function runBudgetLedgerSuite(name: string, factory: () => Promise<BudgetLedgerFixture>): void {
  describe(`budget ledger: ${name}`, () => {
    let fixture: BudgetLedgerFixture;
    let ledger: BudgetLedger;
    // PostgreSQL and Redis keep state between runs: every run spends as tenants of its own.
    const tag = randomBytes(4).toString('hex');
    let n = 0;
    const tenant = () => `t-${tag}-${++n}`;

    beforeAll(async () => {
      fixture = await factory();
      ledger = fixture.ledger;
    });
    afterAll(async () => {
      await fixture?.ledger.close();
      await fixture?.stop();
    });

    it('holds a cost within the limits and refuses one beyond, naming the window and when it resets', async () => {
      const t = tenant();
      const limits = { dailyMicros: 1 * USD, monthlyMicros: 10 * USD };
      const first = await ledger.reserve(t, limits, 400_000, { now: NOON });
      expect(held(first)).toMatchObject({
        tenantId: t,
        dayKey: 'day:2031-03-15',
        monthKey: 'month:2031-03',
        amountMicros: 400_000,
      });
      expect(first.windows).toEqual([
        {
          window: 'day',
          key: 'day:2031-03-15',
          limitMicros: USD,
          spentMicros: 0,
          reservedMicros: 400_000,
          resetsAt: at('2031-03-16T00:00:00.000Z'),
        },
        {
          window: 'month',
          key: 'month:2031-03',
          limitMicros: 10 * USD,
          spentMicros: 0,
          reservedMicros: 400_000,
          resetsAt: at('2031-04-01T00:00:00.000Z'),
        },
      ]);
      // Up to the limit exactly is allowed; one micro-dollar more is not.
      held(await ledger.reserve(t, limits, 600_000, { now: NOON }));
      const denied = await ledger.reserve(t, limits, 1, { now: NOON });
      expect(denied.ok).toBe(false);
      if (denied.ok) return;
      expect(denied.exhausted).toMatchObject({
        window: 'day',
        key: 'day:2031-03-15',
        reservedMicros: USD,
        resetsAt: at('2031-03-16T00:00:00.000Z'),
      });
      // A refusal holds nothing.
      expect(counts(await ledger.status(t, limits, NOON))).toEqual([
        [0, USD],
        [0, USD],
      ]);
    });

    it('refuses on the monthly limit while the day has room', async () => {
      const t = tenant();
      const limits = { dailyMicros: 800_000, monthlyMicros: USD };
      const r = held(await ledger.reserve(t, limits, 700_000, { now: at('2031-03-14T12:00:00Z') }));
      await ledger.settle(r, 700_000);
      const denied = await ledger.reserve(t, limits, 400_000, { now: NOON });
      expect(denied).toMatchObject({
        ok: false,
        exhausted: { window: 'month', key: 'month:2031-03', spentMicros: 700_000, resetsAt: at('2031-04-01T00:00Z') },
      });
      expect(counts(denied.windows)).toEqual([
        [0, 0],
        [700_000, 0],
      ]);
      held(await ledger.reserve(t, limits, 300_000, { now: NOON }));
    });

    it('refuses on the daily limit while the month has room', async () => {
      const t = tenant();
      const limits = { dailyMicros: 500_000, monthlyMicros: 100 * USD };
      await ledger.settle(held(await ledger.reserve(t, limits, 500_000, { now: NOON })), 450_000);
      const denied = await ledger.reserve(t, limits, 100_000, { now: NOON });
      expect(denied).toMatchObject({ ok: false, exhausted: { window: 'day', spentMicros: 450_000 } });
      held(await ledger.reserve(t, limits, 50_000, { now: NOON }));
    });

    it('settles: commits the actual cost in both windows and releases the rest of the hold', async () => {
      const t = tenant();
      const limits = { dailyMicros: USD };
      const a = held(await ledger.reserve(t, limits, 300_000, { now: NOON }));
      held(await ledger.reserve(t, limits, 200_000, { now: NOON }));
      await ledger.settle(a, 120_000);
      expect(counts(await ledger.status(t, limits, NOON))).toEqual([
        [120_000, 200_000],
        [120_000, 200_000],
      ]);
      // The released part is free again: 1 000 000 - 120 000 - 200 000 = 680 000.
      held(await ledger.reserve(t, limits, 680_000, { now: NOON }));
      expect((await ledger.reserve(t, limits, 1, { now: NOON })).ok).toBe(false);
    });

    it('settles once: settling again counts nothing twice and releases no other hold', async () => {
      const t = tenant();
      const a = held(await ledger.reserve(t, {}, 300_000, { now: NOON }));
      held(await ledger.reserve(t, {}, 200_000, { now: NOON }));
      await ledger.settle(a, 250_000);
      await ledger.settle(a, 250_000);
      await Promise.all([ledger.settle(a, 250_000), ledger.settle(a, 250_000)]);
      expect(counts(await ledger.status(t, {}, NOON))).toEqual([
        [250_000, 200_000],
        [250_000, 200_000],
      ]);
    });

    it('counts the spend of a settle that comes after its hold expired and was swept, releasing nothing', async () => {
      const t = tenant();
      const limits = { dailyMicros: USD };
      const late = held(await ledger.reserve(t, limits, 600_000, { now: NOON, ttlMs: 1_000 }));
      const later = at('2031-03-15T12:00:02.000Z');
      // Swept by this reserve, so it fits although the late call's hold would not let it.
      const next = held(await ledger.reserve(t, limits, 700_000, { now: later }));
      await ledger.settle(late, 50_000);
      expect(counts(await ledger.status(t, limits, later))).toEqual([
        [50_000, 700_000],
        [50_000, 700_000],
      ]);
      await ledger.settle(next, 0);
      expect(counts(await ledger.status(t, limits, later))).toEqual([
        [50_000, 0],
        [50_000, 0],
      ]);
    });

    it('sweeps expired holds on the next reserve, not before they expire', async () => {
      const t = tenant();
      const limits = { monthlyMicros: USD };
      held(await ledger.reserve(t, limits, USD, { now: NOON, ttlMs: 60_000 }));
      expect((await ledger.reserve(t, limits, 1, { now: at('2031-03-15T12:00:59.999Z') })).ok).toBe(false);
      const after = at('2031-03-15T12:01:00.000Z');
      const fresh = await ledger.reserve(t, limits, USD, { now: after });
      held(fresh);
      expect(counts(fresh.windows)).toEqual([
        [0, USD],
        [0, USD],
      ]);
    });

    it("sweeps an expired hold of yesterday's window, and releases it there", async () => {
      const t = tenant();
      const evening = at('2031-03-15T23:59:30.000Z');
      held(await ledger.reserve(t, {}, 400_000, { now: evening, ttlMs: 60_000 }));
      const morning = at('2031-03-16T00:05:00.000Z');
      held(await ledger.reserve(t, {}, 100_000, { now: morning }));
      expect(counts(await ledger.status(t, {}, evening))).toEqual([
        [0, 0],
        [0, 100_000],
      ]);
      expect(counts(await ledger.status(t, {}, morning))).toEqual([
        [0, 100_000],
        [0, 100_000],
      ]);
    });

    it('starts a fresh day window at UTC midnight, the month going on', async () => {
      const t = tenant();
      const limits = { dailyMicros: USD, monthlyMicros: 5 * USD };
      const last = at('2031-03-15T23:59:59.999Z');
      await ledger.settle(held(await ledger.reserve(t, limits, USD, { now: last })), USD);
      expect((await ledger.reserve(t, limits, 1, { now: last })).ok).toBe(false);
      const midnight = at('2031-03-16T00:00:00.000Z');
      const next = await ledger.reserve(t, limits, USD, { now: midnight });
      expect(held(next).dayKey).toBe('day:2031-03-16');
      expect(next.windows.map((w) => [w.key, w.spentMicros, w.reservedMicros, w.resetsAt.toISOString()])).toEqual([
        ['day:2031-03-16', 0, USD, '2031-03-17T00:00:00.000Z'],
        ['month:2031-03', USD, USD, '2031-04-01T00:00:00.000Z'],
      ]);
    });

    it('starts fresh day and month windows at the turn of the month', async () => {
      const t = tenant();
      const limits = { monthlyMicros: 1_500_000 };
      const last = at('2031-03-31T23:59:59.000Z');
      await ledger.settle(held(await ledger.reserve(t, limits, USD, { now: last })), USD);
      expect(await ledger.reserve(t, limits, USD, { now: last })).toMatchObject({
        ok: false,
        exhausted: { window: 'month', resetsAt: at('2031-04-01T00:00:00.000Z') },
      });
      const first = await ledger.reserve(t, limits, 1_500_000, { now: at('2031-04-01T00:00:00.000Z') });
      expect(held(first)).toMatchObject({ dayKey: 'day:2031-04-01', monthKey: 'month:2031-04' });
      expect(counts(first.windows)).toEqual([
        [0, 1_500_000],
        [0, 1_500_000],
      ]);
      // December rolls over into January of the next year.
      const december = await ledger.status(t, limits, at('2031-12-31T23:00:00.000Z'));
      expect(december[1]).toMatchObject({ key: 'month:2031-12', resetsAt: at('2032-01-01T00:00:00.000Z') });
    });

    it('records spend in windows without a limit', async () => {
      const t = tenant();
      const big = 5_000_000 * USD;
      await ledger.settle(held(await ledger.reserve(t, {}, big, { now: NOON })), big - 1);
      await ledger.settle(held(await ledger.reserve(t, { dailyMicros: big }, 1, { now: NOON })), 1);
      const windows = await ledger.status(t, {}, NOON);
      expect(windows.map((w) => [w.limitMicros, w.spentMicros, w.reservedMicros])).toEqual([
        [null, big, 0],
        [null, big, 0],
      ]);
      expect((await ledger.reserve(t, { dailyMicros: big }, 1, { now: NOON })).ok).toBe(false);
    });

    it("keeps tenants apart: one tenant's spend never touches another's", async () => {
      const [a, b] = [tenant(), tenant()];
      const limits = { dailyMicros: USD, monthlyMicros: USD };
      await ledger.settle(held(await ledger.reserve(a, limits, USD, { now: NOON })), USD);
      expect((await ledger.reserve(a, limits, 1, { now: NOON })).ok).toBe(false);
      expect(counts(await ledger.status(b, limits, NOON))).toEqual([
        [0, 0],
        [0, 0],
      ]);
      const forB = await ledger.reserve(b, limits, USD, { now: NOON });
      expect(counts(forB.windows)).toEqual([
        [0, USD],
        [0, USD],
      ]);
      expect(counts(await ledger.status(a, limits, NOON))).toEqual([
        [USD, 0],
        [USD, 0],
      ]);
    });

    it('refuses amounts and limits that are not whole, non-negative micro-dollars', async () => {
      const t = tenant();
      await expect(ledger.reserve(t, {}, -1)).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(ledger.reserve(t, {}, 0.5)).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(ledger.reserve(t, { dailyMicros: Number.NaN }, 1)).rejects.toMatchObject({
        code: 'validation_failed',
      });
      const r = held(await ledger.reserve(t, {}, 1, { now: NOON }));
      await expect(ledger.settle(r, -5)).rejects.toMatchObject({ code: 'validation_failed' });
    });

    /** 200 calls at once, each a twentieth of the limit, spread over `ledgers`: exactly 20 get a hold. */
    async function race(ledgers: BudgetLedger[], limits: { dailyMicros?: number; monthlyMicros?: number }) {
      const t = tenant();
      const limit = (limits.dailyMicros ?? limits.monthlyMicros)!;
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          ledgers[i % ledgers.length]!.reserve(t, limits, limit / 20, { now: NOON }),
        ),
      );
      const ok = results.filter((r) => r.ok);
      expect({ ok: ok.length, denied: results.length - ok.length }).toEqual({ ok: 20, denied: 180 });
      expect(new Set(ok.map((r) => r.ok && r.reservation.id)).size).toBe(20);
      for (const r of results) for (const w of r.windows) expect(w.reservedMicros).toBeLessThanOrEqual(limit);
      const windows = await ledger.status(t, limits, NOON);
      expect(counts(windows)).toEqual([
        [0, limit],
        [0, limit],
      ]);
      // Settled, the holds come back: spent + reserved never passed the limit.
      await Promise.all(ok.map((r) => r.ok && ledgers[0]!.settle(r.reservation, limit / 40)));
      expect(counts(await ledger.status(t, limits, NOON))).toEqual([
        [limit / 2, 0],
        [limit / 2, 0],
      ]);
    }

    it('holds exactly the limit when 200 calls race for it (daily limit)', async () => {
      await race([ledger], { dailyMicros: USD });
    });

    it('holds exactly the limit when 200 calls race for it (monthly limit)', async () => {
      await race([ledger], { monthlyMicros: 2 * USD });
    });

    it('holds exactly the limit when two ledgers on the same state race, 100 calls each', async (context) => {
      if (!fixture.another) {
        context.skip('one ledger per state on this engine');
        return;
      }
      const second = await fixture.another();
      try {
        await race([ledger, second], { dailyMicros: USD, monthlyMicros: 3 * USD });
      } finally {
        await second.close();
      }
    });
  });
}
