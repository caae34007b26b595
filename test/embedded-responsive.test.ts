/**
 * The embedded engine stays responsive while it provisions: PGlite's work (initdb, opening
 * a data dir, migrations) runs on worker threads, so the thread that answers health checks
 * and API calls is never held up for long. Before, each dedicated tenant's initdb held the
 * event loop for 2–3 s and `/healthz` answered in seconds.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isolationContext } from '../src/isolation/index.js';
import { startTestPlane, type TestPlane } from './support/engines.js';
import { call, manifest, waitForPhase } from './support/http.js';

describe('embedded engine under provisioning', () => {
  let plane: TestPlane | undefined;
  afterAll(async () => plane?.stop());

  it('keeps the event loop free while dedicated and shared tenants are provisioned with migrations', async () => {
    plane = await startTestPlane('pglite', {
      start: { inMemory: false },
      env: { TENANCY_APP_MIGRATIONS: fileURLToPath(new URL('../examples/app/migrations', import.meta.url)) },
    });
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const ids = ['resp-d1', 'resp-s1', 'resp-d2', 'resp-s2', 'resp-d3', 'resp-s3'];
    for (const id of ids) {
      const res = await call(
        plane,
        'POST',
        '/v1/tenants',
        manifest(id, { profile: id.includes('-d') ? 'st-dedicated' : 'mt-standard' }),
      );
      expect(res.statusCode, res.body).toBe(201);
    }
    // Health answers while the controller works.
    const health = await call(plane, 'GET', '/healthz');
    expect(health.statusCode).toBe(200);
    for (const id of ids) await waitForPhase(plane, id, 'active', 60_000);
    delay.disable();
    console.log(`[embedded] longest event-loop stall while provisioning: ${(delay.max / 1e6).toFixed(0)} ms`);
    // An initdb on this thread stalls it for seconds; on worker threads only short store
    // statements (and garbage collection) run here.
    expect(delay.max / 1e6, 'longest event-loop stall (ms)').toBeLessThan(1_000);

    // Dedicated data dirs are copies of one template; nothing half-copied is left behind.
    const warehouse = join(plane.dataDir, 'warehouse');
    const entries = await readdir(warehouse);
    expect(entries.filter((e) => e.startsWith('template-') && !e.endsWith('.building'))).toHaveLength(1);
    const tenants = await readdir(join(warehouse, 'tenants'));
    expect(tenants.filter((e) => e.endsWith('.copying'))).toEqual([]);

    // Each dedicated tenant's own data is in its own instance, as its own role.
    const ctx = isolationContext('resp-d2', {
      plan: 'pro',
      profile: 'st-dedicated',
      region: 'default',
      quotas: undefined,
      byoc: undefined,
    });
    const rows = await plane.resources.databases.withTenant(ctx, (s) =>
      s.query<{ who: string; notes: number }>('select current_user as who, (select count(*)::int from notes) as notes'),
    );
    expect(rows[0]).toMatchObject({ who: expect.stringMatching(/t_resp_d2$/), notes: 0 });
  });
});
