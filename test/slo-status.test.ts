/**
 * SLI buckets and SLO status on PGlite and PostgreSQL, driven by events with timestamps and a
 * chosen "now": the SLI, the error budget, burn rates per window, and each alert rule firing
 * (and not firing under its minimum event count).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SliStore } from '../src/slo/sli-store.js';
import { sloSpecSchema } from '../src/slo/slo-schema.js';
import { sloStatuses } from '../src/slo/slo-status.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';

const NOW = Date.parse('2026-12-08T12:00:30Z');
const MIN = 60_000;

describe.each(engines())('SLO status on %s', (engine) => {
  let plane: TestPlane;
  let store: SliStore;

  beforeAll(async () => {
    plane = await startTestPlane(engine);
    store = new SliStore(plane.database.db, { flushIntervalMs: 60_000 });
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await plane?.stop();
  });

  const def = (tenantId: string, name: string, spec: Record<string, unknown>) => ({
    tenantId,
    name,
    spec: sloSpecSchema.parse(spec),
  });

  it('computes the SLI, budget and burn rates from bucketed events', async () => {
    // 30 days of 100 events a day, 1 error a day: 99% over the window.
    for (let d = 0; d < 30; d++)
      for (let i = 0; i < 100; i++)
        store.record('slo-a', 'sdk', {
          ok: i !== 0,
          latencyMs: i < 90 ? 50 : 800,
          at: NOW - d * 86_400_000 - 3 * 3_600_000 - i * 1000,
        });
    await store.flush();
    const [avail, latency] = await sloStatuses(
      plane.database.db,
      [
        def('slo-a', 'avail', { objective: 'availability', target: 0.99, window: '30d' }),
        def('slo-a', 'fast', { objective: 'latency', target: 0.95, thresholdMs: 300, window: '30d' }),
      ],
      NOW,
    );
    expect(avail!.window.events).toBe(3000);
    expect(avail!.sli).toBeCloseTo(0.99, 6);
    expect(avail!.errorBudget).toMatchObject({ unit: 'minutes', status: 'exhausted' });
    expect(avail!.errorBudget.total).toBeCloseTo(30 * 24 * 60 * 0.01, 3);
    expect(avail!.errorBudget.consumedRatio).toBeCloseTo(1, 6);
    expect(latency!.sli).toBeCloseTo(0.9, 6);
    expect(latency!.errorBudget).toMatchObject({ unit: 'events', status: 'exhausted' });
    // Nothing in the last hour: no burn rate there, no page.
    expect(avail!.burnRates['5m']).toBeNull();
    expect(avail!.burnRates['3d']).toBeCloseTo(1, 6);
    expect(avail!.alerts.map((a) => a.rule)).toEqual(['ticket']);
  });

  it('pages on a fast burn and not on one error of little traffic', async () => {
    for (let i = 0; i < 100; i++)
      store.record('slo-b', 'router', { ok: i % 5 !== 0, latencyMs: 20, at: NOW - (i % 4) * MIN - 1000 });
    store.record('slo-c', 'router', { ok: false, latencyMs: 20, at: NOW - 1000 });
    await store.flush();
    const [b, c] = await sloStatuses(
      plane.database.db,
      [
        def('slo-b', 'avail', { objective: 'availability', target: 0.99 }),
        def('slo-c', 'avail', { objective: 'availability', target: 0.99 }),
      ],
      NOW,
    );
    expect(b!.burnRates['5m']).toBeCloseTo(20, 6);
    expect(b!.alerts.map((a) => a.rule)).toEqual(['page-fast', 'page-slow', 'ticket']);
    expect(c!.burnRates['5m']).toBe(100);
    expect(c!.alerts).toEqual([]);
    // Another source does not count for a source-bound SLO.
    const [sdkOnly] = await sloStatuses(
      plane.database.db,
      [def('slo-b', 'sdk', { objective: 'availability', target: 0.99, source: 'sdk' })],
      NOW,
    );
    expect(sdkOnly!.window.events).toBe(0);
    expect(sdkOnly!.sli).toBeNull();
  });
});
