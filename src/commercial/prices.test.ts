import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketStart, monthRange } from './meters.js';
import { parsePriceTable, quantityOf, unitOf, unitPrice } from './prices.js';
import { costExceeded } from './usage-store.js';

describe('the price table', () => {
  it('parses defaults and per-plan overrides; cost_usd is always face value', () => {
    const table = parsePriceTable(
      '{"requests": 0.000002, "object_bytes": 0.023, "cost_usd": 5, "plans": {"enterprise": {"requests": 0.000001}}}',
    );
    expect(unitPrice(table, 'pro', 'requests')).toBe(0.000002);
    expect(unitPrice(table, 'enterprise', 'requests')).toBe(0.000001);
    expect(unitPrice(table, 'enterprise', 'object_bytes')).toBe(0.023);
    expect(unitPrice(table, 'pro', 'gpu_seconds')).toBe(0);
    expect(unitPrice(table, 'pro', 'cost_usd')).toBe(1);
    expect(parsePriceTable(undefined)).toEqual({ defaults: {}, plans: {} });
    expect(unitOf('object_bytes')).toBe('GB-month');
    expect(unitOf('cost_usd')).toBe('USD');
  });

  it('refuses a malformed table with invalid_config naming the field', () => {
    expect(() => parsePriceTable('{')).toThrow(/TENANCY_USAGE_PRICES is not JSON/);
    expect(() => parsePriceTable('{"requests": -1}')).toThrow(/TENANCY_USAGE_PRICES \/requests must be >= 0/);
    expect(() => parsePriceTable('{"Bad Name": 1}')).toThrow(/\/Bad Name is not a resource name/);
    expect(() => parsePriceTable('[1]')).toThrow(/must be a JSON object/);
    expect(() => parsePriceTable('{"plans": {"pro": {"requests": "cheap"}}}')).toThrow(
      /\/plans\/pro\/requests must be a number/,
    );
    expect(() => parsePriceTable('{"jobs": true}')).toThrow(
      expect.objectContaining({ code: 'invalid_config', status: 400 }),
    );
  });

  it('turns a month of hourly byte samples into GB-months (the average held)', () => {
    const { hours } = monthRange('2026-11');
    expect(hours).toBe(720);
    // 2 GB held every hour of the month is 2 GB-months; held half the month, 1.
    expect(quantityOf('object_bytes', 2e9 * 720, hours)).toBe(2);
    expect(quantityOf('object_bytes', 2e9 * 360, hours)).toBe(1);
    expect(quantityOf('requests', 1234, hours)).toBe(1234);
    expect(monthRange('2026-12').to.toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('buckets instants into their UTC hour and day', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        const h = bucketStart(ms, 'hour');
        const d = bucketStart(ms, 'day');
        expect(h <= ms && ms - h < 3_600_000).toBe(true);
        expect(new Date(d).toISOString().slice(0, 10)).toBe(new Date(ms).toISOString().slice(0, 10));
        expect(new Date(d).toISOString().endsWith('T00:00:00.000Z')).toBe(true);
      }),
    );
  });

  it('counts a monthly cost as over its cap at or above it, and any cost over a cap of 0', () => {
    expect(costExceeded(0, 0)).toBe(false);
    expect(costExceeded(0.01, 0)).toBe(true);
    expect(costExceeded(99.99, 100)).toBe(false);
    expect(costExceeded(100, 100)).toBe(true);
  });
});
