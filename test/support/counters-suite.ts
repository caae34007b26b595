/**
 * The behaviour every counters engine must have; run in memory and on Redis so both are
 * held to the same contract.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Counter, Counters, WindowCount } from '../../src/sdk/counters/index.js';

/** One hit, whether the engine answers at once or with a promise. */
async function hit(counter: Counter, key: string): Promise<WindowCount> {
  const count = await counter(key);
  expect(count, `a count for ${key}`).toBeDefined();
  return count!;
}

export function runCountersSuite(
  name: string,
  factory: () => Promise<{ counters: Counters; stop: () => Promise<void> }>,
): void {
  describe(`counters: ${name}`, () => {
    let counters: Counters;
    let stop: () => Promise<void>;
    // Redis keeps keys between runs: every run counts under names of its own.
    const tag = randomBytes(4).toString('hex');

    beforeAll(async () => {
      ({ counters, stop } = await factory());
    });
    afterAll(async () => {
      await stop?.();
    });

    it('counts hits on a key from one, within one window', async () => {
      const counter = counters.fixedWindow(`count-${tag}`, 60);
      const first = await hit(counter, 'tenant-a');
      expect(first.consumedPoints).toBe(1);
      expect(first.msBeforeNext).toBeGreaterThan(50_000);
      expect(first.msBeforeNext).toBeLessThanOrEqual(60_000);
      expect((await hit(counter, 'tenant-a')).consumedPoints).toBe(2);
      const third = await hit(counter, 'tenant-a');
      expect(third.consumedPoints).toBe(3);
      // The window opened at the first hit: it does not start again on later ones.
      expect(third.msBeforeNext).toBeLessThanOrEqual(first.msBeforeNext);
    });

    it('keeps two tenants apart: one key never moves another', async () => {
      const counter = counters.fixedWindow(`tenants-${tag}`, 60);
      for (let i = 0; i < 5; i++) await hit(counter, 'tenant-a');
      expect((await hit(counter, 'tenant-b')).consumedPoints).toBe(1);
      expect((await hit(counter, 'tenant-a')).consumedPoints).toBe(6);
      expect((await hit(counter, 'tenant-b')).consumedPoints).toBe(2);
    });

    it('keeps two counters apart: the same key counts separately in each', async () => {
      const perTenant = counters.fixedWindow(`tenant-${tag}`, 60);
      const hourly = counters.fixedWindow(`hourly-${tag}`, 3_600);
      await hit(perTenant, 'acme');
      await hit(perTenant, 'acme');
      const h = await hit(hourly, 'acme');
      expect(h.consumedPoints).toBe(1);
      expect(h.msBeforeNext).toBeGreaterThan(3_500_000);
      expect((await hit(perTenant, 'acme')).consumedPoints).toBe(3);
    });

    it('counts concurrent hits exactly once each', async () => {
      const counter = counters.fixedWindow(`concurrent-${tag}`, 60);
      const counts = await Promise.all(Array.from({ length: 50 }, () => hit(counter, 'busy')));
      expect(counts.map((c) => c.consumedPoints).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    });

    it('starts again from one when the window ends', async () => {
      const counter = counters.fixedWindow(`window-${tag}`, 1);
      await hit(counter, 'tenant-a');
      expect((await hit(counter, 'tenant-a')).consumedPoints).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect((await hit(counter, 'tenant-a')).consumedPoints).toBe(1);
    });

    it('takes keys with any characters (credential ids, tenant ids)', async () => {
      const counter = counters.fixedWindow(`keys-${tag}`, 60);
      for (const key of ['k:1', 'k 1', 'ünïcode', 'a/b', '']) expect((await hit(counter, key)).consumedPoints).toBe(1);
    });

    it('closes', async () => {
      const own = await factory();
      await own.counters.close();
      await own.stop();
    });
  });
}
