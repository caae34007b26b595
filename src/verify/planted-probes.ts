/**
 * The isolation self-test's planted probes: A plants functions (row-level-security policies, a
 * trigger) that log who runs them; the control plane then migrates, archives, restores and
 * moves A, and no trap may have run with more than A's rights.
 */
import pg from 'pg';
import { tenantIdentifier } from '../isolation/index.js';
import { descriptor, waitFor, waitJob, withClient } from './probe-support.js';
import type { ProbeIds, ReportProbe, SelfTestDeps } from './self-test-types.js';

const TRAP_LOG = 'iso_probe_trap_log';

/** A plants traps; the control plane migrates, archives, restores and moves A; the traps report who ran them. */
export async function plantedProbes(deps: SelfTestDeps, ids: ProbeIds, report: ReportProbe): Promise<void> {
  const { api } = deps;
  const { a, b } = ids;
  const dB = await descriptor(api, b);
  const plant = async () =>
    withClient((await descriptor(api, a)).url!, async (c) => {
      await c.query(`create table if not exists ${TRAP_LOG} (phase text, who text, sess text, sup boolean, leak text)`);
      await c.query(`
        create or replace function iso_trap(phase text) returns boolean language plpgsql as $f$
        declare who text; sess text; sup boolean; leak text; me text := current_user;
        begin
          begin reset role; exception when others then null; end;
          select current_user, session_user into who, sess;
          select rolsuper into sup from pg_catalog.pg_roles where rolname = current_user;
          begin execute 'select v from ${pg.escapeIdentifier(dB.schema)}.probe_secret limit 1' into leak; exception when others then leak := null; end;
          begin execute format('set role %I', me); exception when others then null; end;
          insert into ${TRAP_LOG} values (phase, who, sess, sup, leak);
          return true;
        exception when others then return true;
        end $f$`);
      await c.query(
        `create or replace function iso_trap_trigger() returns trigger language plpgsql as $f$ begin perform iso_trap('trigger on ' || tg_table_name); return new; end $f$`,
      );
      await c.query(`create table if not exists iso_trap_t (x int)`);
      if ((await c.query('select 1 from iso_trap_t')).rows.length === 0)
        await c.query('insert into iso_trap_t values (1), (2), (3)');
      await c.query(
        `alter table iso_trap_t enable row level security; alter table iso_trap_t force row level security`,
      );
      await c.query(
        `drop policy if exists p on iso_trap_t; create policy p on iso_trap_t using (iso_trap('policy on iso_trap_t') and false)`,
      );
      const migrations = await c.query(
        `select 1 from pg_catalog.pg_tables where schemaname = current_schema() and tablename = 'tenancy_schema_migrations'`,
      );
      if (migrations.rows.length) {
        await c.query(
          `alter table tenancy_schema_migrations enable row level security; alter table tenancy_schema_migrations force row level security`,
        );
        await c.query(
          `drop policy if exists p on tenancy_schema_migrations; create policy p on tenancy_schema_migrations using (iso_trap('policy on tenancy_schema_migrations')) with check (true)`,
        );
        await c.query(
          `drop trigger if exists t on tenancy_schema_migrations; create trigger t before insert on tenancy_schema_migrations for each row execute function iso_trap_trigger()`,
        );
      }
    });
  const verdict = async () =>
    withClient((await descriptor(api, a)).url!, async (c) => {
      const rows = (
        await c.query<{ phase: string; who: string; sess: string; sup: boolean; leak: string | null }>(
          `select * from ${TRAP_LOG}`,
        )
      ).rows;
      const mine = new Set([tenantIdentifier(a, deps.prefix), `${deps.prefix}m_${a.replace(/-/g, '_')}`]);
      const bad = rows.filter((r) => r.sup || r.leak !== null || !mine.has(r.who) || !mine.has(r.sess));
      const trapped = await c.query<{ n: number }>('select count(*)::int as n from iso_trap_t').catch(() => undefined);
      return { bad, ran: rows.length, rows: trapped };
    });

  await plant();
  if (deps.migrations) {
    const run = await api({ method: 'POST', url: '/v1/migrations', body: { tenants: [a] } });
    const job = await waitJob(api, (run.body as { id: string }).id);
    const v = await verdict();
    report({
      id: 'db.planted.migrate',
      area: 'database',
      title: "a migration rollout runs A's planted policy and trigger no higher than A",
      outcome: job === 'succeeded' && v.bad.length === 0 ? 'pass' : 'fail',
      detail: `migration job ${job}; ${v.ran} trap runs${v.bad.length ? `; escalated: ${JSON.stringify(v.bad.slice(0, 3))}` : ''}`,
    });
  } else {
    report({
      id: 'db.planted.migrate',
      area: 'database',
      title: "a migration rollout runs A's planted policy and trigger no higher than A",
      outcome: 'skip',
      detail: 'no app migrations configured (TENANCY_APP_MIGRATIONS)',
    });
  }

  await api({ method: 'POST', url: `/v1/tenants/${a}/archive`, body: {} });
  await waitFor(api, a, (t) => t.status.phase === 'archived', 'archived');
  await api({ method: 'POST', url: `/v1/tenants/${a}/restore`, body: {} });
  await waitFor(api, a, (t) => t.status.phase === 'active', 'active after restore');
  let v = await verdict();
  const kept = await withClient(
    (await descriptor(api, a)).url!,
    async (owner) =>
      (
        await owner
          .query<{ n: number }>('select count(*)::int as n from iso_trap_t')
          .catch(() => ({ rows: [{ n: -1 }] }))
      ).rows[0]!.n,
  );
  report({
    id: 'db.planted.archive',
    area: 'database',
    title: "archive and restore run nothing A planted above A's rights, and lose no row A's policy hides",
    outcome: v.bad.length === 0 && kept === 3 ? 'pass' : 'fail',
    detail: `${kept} of 3 hidden rows restored${v.bad.length ? `; escalated: ${JSON.stringify(v.bad.slice(0, 3))}` : ''}`,
  });

  await plant();
  await api({
    method: 'PATCH',
    url: `/v1/tenants/${a}`,
    body: { spec: { profile: 'st-dedicated' } },
    headers: { 'content-type': 'application/merge-patch+json' },
  });
  await waitFor(
    api,
    a,
    (t) =>
      t.status.placement?.profile === 'st-dedicated' &&
      !t.status.placement.movingFrom &&
      t.status.observedGeneration === t.metadata.generation,
    'its dedicated place',
  );
  v = await verdict();
  report({
    id: 'db.planted.move',
    area: 'database',
    title: "a profile move runs nothing A planted above A's rights",
    outcome: v.bad.length === 0 ? 'pass' : 'fail',
    ...(v.bad.length ? { detail: JSON.stringify(v.bad.slice(0, 3)) } : {}),
  });
}
