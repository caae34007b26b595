/**
 * The isolation self-test's probes on the embedded warehouse, which no tenant can connect to:
 * it hands out no URL, and work done as A cannot read B's table.
 */
import pg from 'pg';
import { descriptor, placement, refusalProbe, refused } from './probe-support.js';
import type { ProbeIds, ReportProbe, SelfTestDeps } from './self-test-types.js';

/** The embedded warehouse has no network endpoint: no tenant connects to it. What can be checked in process, is. */
export async function embeddedProbes(deps: SelfTestDeps, ids: ProbeIds, report: ReportProbe): Promise<void> {
  const { api } = deps;
  const dA = await descriptor(api, ids.a);
  report({
    id: 'db.endpoint',
    area: 'database',
    title: 'the embedded warehouse hands a tenant no URL to connect with',
    outcome: dA.url === null ? 'pass' : 'fail',
    detail: dA.url === null ? 'url: null' : 'a URL was handed out',
  });
  const ctxA = await placement(api, ids.a);
  const ctxB = await placement(api, ids.b);
  await deps.databases.withTenant(ctxB, (s) =>
    s.exec(`create table if not exists probe_secret (v text); insert into probe_secret values ('victim-row')`),
  );
  const bSchema = pg.escapeIdentifier((await descriptor(api, ids.b)).schema);
  const r = await refused(() =>
    deps.databases.withTenant(ctxA, (s) => s.query(`select * from ${bSchema}.probe_secret`)),
  );
  report(refusalProbe('db.read', "work the control plane does as A cannot read B's table", r));
  for (const [id, title] of [
    ['db.connect', 'database connections as a tenant (store, other databases, maintenance role)'],
    ['db.planted', 'planted functions run by archive, move and migrate'],
    ['db.fence', "a move's write fence against the tenant's own sessions"],
  ]) {
    report({
      id: id!,
      area: 'database',
      title: title!,
      outcome: 'skip',
      detail:
        'embedded warehouse: no tenant can connect to it, so none can plant code or hold sessions there; isolation is enforced by the application (use TENANCY_WAREHOUSE_URL for database-enforced isolation)',
    });
  }
}
