import { describe, expect, it } from 'vitest';
import { Breakers } from './breakers.js';

const settings = { failureRate: 0.5, minRequests: 4, windowMs: 10_000, cooldownMs: 5_000 };

describe('circuit breakers per tenant and model', () => {
  it('opens at the failure rate over the minimum requests, probes once half-open, and closes on success', () => {
    const b = new Breakers();
    const t0 = 1_000_000;
    b.record('a', 'm', true, settings, t0);
    b.record('a', 'm', false, settings, t0 + 1);
    b.record('a', 'm', false, settings, t0 + 2);
    expect(b.allow('a', 'm', t0 + 3)).toBe(true); // 2 of 3: under minRequests
    b.record('a', 'm', false, settings, t0 + 3);
    expect(b.allow('a', 'm', t0 + 4)).toBe(false);
    expect(b.states('a', t0 + 4)[0]).toMatchObject({ model: 'm', state: 'open' });
    // Another tenant's breaker for the same model, and this tenant's for another model, stay closed.
    expect(b.allow('b', 'm', t0 + 4)).toBe(true);
    expect(b.allow('a', 'other', t0 + 4)).toBe(true);
    // After the cooldown: one probe at a time; looking does not take it.
    expect(b.wouldAllow('a', 'm', t0 + 5_010)).toBe(true);
    expect(b.wouldAllow('a', 'm', t0 + 5_010)).toBe(true);
    expect(b.allow('a', 'm', t0 + 5_010)).toBe(true);
    expect(b.wouldAllow('a', 'm', t0 + 5_010)).toBe(false);
    expect(b.allow('a', 'm', t0 + 5_011)).toBe(false);
    b.record('a', 'm', false, settings, t0 + 5_012);
    expect(b.allow('a', 'm', t0 + 5_013)).toBe(false);
    expect(b.allow('a', 'm', t0 + 10_020)).toBe(true);
    b.record('a', 'm', true, settings, t0 + 10_021);
    expect(b.states('a', t0 + 10_022)[0]).toMatchObject({ state: 'closed', requests: 0 });
    expect(b.allow('a', 'm', t0 + 10_022)).toBe(true);
  });

  it('forgets failures older than the window', () => {
    const b = new Breakers();
    const t0 = 2_000_000;
    for (let i = 0; i < 3; i++) b.record('a', 'm', false, settings, t0 + i);
    b.record('a', 'm', false, settings, t0 + 20_000);
    expect(b.allow('a', 'm', t0 + 20_001)).toBe(true);
  });
});
