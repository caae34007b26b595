/**
 * The isolation self-test's database probes on a PostgreSQL warehouse: with A's own connection
 * descriptor, B's schema and role, the cluster's other databases, privilege escalation, A's
 * maintenance role and a move's write fence.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { plantedProbes } from './planted-probes.js';
import { connect, descriptor, placement, refusalProbe, refused } from './probe-support.js';
import type { ProbeIds, ReportProbe, SelfTestDeps } from './self-test-types.js';

/**
 * A attacks B over a PostgreSQL warehouse with A's own connection descriptor; then the planted probes,
 * and, once A has moved to a database of its own, B tries to enter it.
 */
export async function databaseProbes(deps: SelfTestDeps, ids: ProbeIds, report: ReportProbe): Promise<void> {
  const { api } = deps;
  const { a, b } = ids;
  const dA = await descriptor(api, a);
  const dB = await descriptor(api, b);
  if (!dA.url || !dB.url) throw new Error('a PostgreSQL warehouse handed out no URL');
  const victim = await connect(dB.url);
  const bSchema = pg.escapeIdentifier(dB.schema);
  try {
    await victim.query(
      `create table probe_secret (v text); insert into probe_secret values ('victim-row'); create function probe_fn() returns text language sql as $$ select 'victim-source' $$`,
    );
  } finally {
    await victim.end();
  }
  const attacker = await connect(dA.url);
  const check = async (id: string, title: string, statement: string, options: { transaction?: boolean } = {}) => {
    const r = await refused(async () => {
      if (options.transaction === false) return attacker.query(statement);
      await attacker.query('begin');
      try {
        await attacker.query(statement);
      } finally {
        await attacker.query('rollback').catch(() => undefined);
      }
    });
    report(refusalProbe(`db.${id}`, title, r));
  };
  try {
    await check('read', "A cannot read B's table", `select * from ${bSchema}.probe_secret`);
    await check('write', "A cannot write B's table", `insert into ${bSchema}.probe_secret values ('planted')`);
    await check('create', "A cannot create in B's schema", `create table ${bSchema}.planted (x int)`);
    await check('function', "A cannot call B's function", `select ${bSchema}.probe_fn()`);
    await check('set-role', 'A cannot become B (SET ROLE)', `set role ${pg.escapeIdentifier(dB.role)}`);
    await check(
      'lock',
      "A cannot take B's migration lock",
      `lock table ${bSchema}.tenancy_schema_migrations in access share mode`,
    );
    await check('create-role', 'A cannot create a role', `create role iso_probe_${randomBytes(3).toString('hex')}`);
    await check(
      'create-database',
      'A cannot create a database',
      `create database iso_probe_${randomBytes(3).toString('hex')}`,
      { transaction: false },
    );
    await check('superuser', 'A cannot make itself superuser', 'alter role current_user superuser');
    await check('createrole', 'A cannot give itself CREATEROLE', 'alter role current_user createrole');
    await check('bypassrls', 'A cannot give itself BYPASSRLS', 'alter role current_user bypassrls');
    await check('alter-b', "A cannot change B's role", `alter role ${pg.escapeIdentifier(dB.role)} nologin`);
    await check(
      'grant-b',
      "A cannot make itself a member of B's role",
      `grant ${pg.escapeIdentifier(dB.role)} to current_user`,
    );
    await check('public', 'A cannot create in public', 'create table public.planted (x int)');
    const source = await attacker
      .query<{ prosrc: string }>(`select prosrc from pg_catalog.pg_proc where pronamespace = $1::regnamespace`, [
        dB.schema,
      ])
      .catch(() => ({ rows: [] as Array<{ prosrc: string }> }));
    report({
      id: 'db.catalog',
      area: 'database',
      title: "A cannot read B's function source in the catalog",
      outcome: source.rows.length ? 'warn' : 'pass',
      detail: source.rows.length
        ? 'visible to every role of a shared warehouse (catalogs are readable by all); a documented limit of schema-per-tenant: use the dedicated profile when code or names are sensitive'
        : 'not visible',
    });
  } finally {
    await attacker.end();
  }

  const databases: Array<[string, string, boolean]> = [
    [
      'store',
      deps.storeUrl ? decodeURIComponent(new URL(deps.storeUrl).pathname.slice(1)) : '',
      deps.storeUrl !== undefined && sameServer(deps.storeUrl, dA.url),
    ],
    ['postgres', 'postgres', true],
    ['template1', 'template1', true],
  ];
  for (const [name, database, applies] of databases) {
    if (!applies) {
      report({
        id: `db.connect.${name}`,
        area: 'database',
        title: `A cannot connect to the ${name} database`,
        outcome: 'skip',
        detail: 'the store is not on the warehouse cluster',
      });
      continue;
    }
    const r = await refused(async () => (await connect(dA.url!, { database })).end());
    report({
      id: `db.connect.${name}`,
      area: 'database',
      title: `A cannot connect to the ${name === 'store' ? "control plane's store" : name} database (nor reach what is locked there)`,
      outcome: r.refused ? 'pass' : 'fail',
      detail: r.refused
        ? r.detail
        : `${r.detail}: a superuser should run REVOKE CONNECT ON DATABASE ${pg.escapeIdentifier(database)} FROM PUBLIC`,
    });
  }
  const maintenance = `${deps.prefix}m_${a.replace(/-/g, '_')}`;
  const login = await refused(async () => (await connect(dA.url!, { user: maintenance })).end());
  report(
    refusalProbe(
      'db.maintenance-login',
      "A cannot log in as its own maintenance role (the control plane's way in)",
      login,
    ),
  );

  await fenceProbe(deps, a, dA.url, report);
  await plantedProbes(deps, ids, report);

  // After the move A has a database of its own: B cannot enter it.
  const moved = await descriptor(api, a);
  const enter = await refused(async () => (await connect(dB.url!, { database: moved.database })).end());
  report(refusalProbe('db.connect.dedicated', "B cannot connect to A's dedicated database", enter));
}

function sameServer(a: string, b: string): boolean {
  const host = (u: URL) =>
    `${(u.searchParams.get('host') ?? u.hostname).replace(/^localhost$/, '127.0.0.1')}:${u.port || '5432'}`;
  return host(new URL(a)) === host(new URL(b));
}

/** A tries to outlast a move's fence: a role setting made before it, a new login during it. */
async function fenceProbe(deps: SelfTestDeps, a: string, url: string, report: ReportProbe): Promise<void> {
  const open = await connect(url);
  await open.query('alter role current_user set default_transaction_read_only = off').catch(() => undefined);
  const ctx = await placement(deps.api, a);
  await deps.databases.fence(ctx);
  try {
    const ended = await refused(() => open.query('select 1'));
    const again = await refused(async () => (await connect(url)).end());
    report({
      id: 'db.fence',
      area: 'database',
      title: "A's sessions end and A cannot log in while fenced (a move's write fence), whatever A set beforehand",
      outcome: again.refused && ended.detail !== 'allowed' ? 'pass' : 'fail',
      detail: `open session: ${ended.detail}; new login: ${again.detail}`,
    });
  } finally {
    await open.end().catch(() => undefined);
    await deps.databases.setLogin(ctx, true);
  }
}
