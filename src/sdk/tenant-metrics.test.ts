import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { TenantMetrics } from './tenant-metrics.js';

/** Values of the `tenant` label in the exposition. */
function tenantValues(text: string): Set<string> {
  return new Set([...text.matchAll(/tenant="([^"]*)"/g)].map((m) => m[1]!));
}

describe('TenantMetrics', () => {
  const open: TenantMetrics[] = [];
  const make = (topTenants: number) => {
    const m = new TenantMetrics({ topTenants, registry: new Registry(), rankIntervalMs: 3_600_000 });
    open.push(m);
    return m;
  };
  afterEach(() => {
    for (const m of open.splice(0)) m.close();
  });

  it('keeps at most topTenants own labels plus "other", however many tenants come', async () => {
    const m = make(3);
    for (let i = 0; i < 500; i++) m.admitted(`tenant-${i}`)();
    m.refused('tenant-499', 'rate_limited');
    m.refused(undefined, 'unauthenticated');
    const values = tenantValues(await m.text());
    expect(values).toEqual(new Set(['tenant-0', 'tenant-1', 'tenant-2', 'other', 'none']));
    expect(await m.text()).toMatch(/tenancy_sdk_requests_total\{tenant="other",outcome="admitted",code=""\} 497/);
  });

  it('re-ranks by traffic: the busiest tenants get their own label, a demoted one loses its series', async () => {
    const m = make(2);
    for (const [id, n] of [
      ['early', 1],
      ['quiet', 1],
      ['busy', 30],
      ['busier', 50],
    ] as const)
      for (let i = 0; i < n; i++) m.admitted(id)();
    expect(m.labeler.top.sort()).toEqual(['early', 'quiet']);
    expect(m.rank().sort()).toEqual(['early', 'quiet']);
    expect(m.labeler.top.sort()).toEqual(['busier', 'busy']);
    for (let i = 0; i < 5; i++) m.admitted('busy')();
    m.admitted('busier')();
    m.admitted('early')();
    const text = await m.text();
    expect(tenantValues(text)).toEqual(new Set(['busy', 'busier', 'other']));
    expect(text).toMatch(/tenancy_sdk_requests_total\{tenant="busy",outcome="admitted",code=""\} 5\n/);
    expect(text).toMatch(/tenancy_sdk_request_duration_seconds_count\{tenant="busy"\} 5\n/);
    // Counts fade: with the busy tenants gone quiet, the next ranks let others in.
    for (let r = 0; r < 8; r++) {
      for (let i = 0; i < 10; i++) m.admitted('newcomer')();
      m.rank();
    }
    expect(m.labeler.top).toContain('newcomer');
    expect(tenantValues(await m.text()).size).toBeLessThanOrEqual(3);
  });
});
