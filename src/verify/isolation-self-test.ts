/**
 * `tenancy verify isolation`: the isolation self-test, run against a live deployment. It
 * makes two throw-away tenants (A and B, and a third id never created, the ghost), then
 * attacks B from A the way a tenant would:
 *
 * - over the API, with a credential of every tenant role and a JWT: every tenant-scoped
 *   route of the OpenAPI document, aimed at B, must answer exactly what the same call aimed
 *   at the ghost answers (so nothing of B is read, changed, or even shown to exist); id
 *   encodings and a spoofed `X-Tenant-ID` or `?tenant=` must not reach B either; and B's
 *   state is compared before and after;
 * - over the database (PostgreSQL warehouse), with A's own connection descriptor: B's schema
 *   and database, `SET ROLE`, the control plane's store and the cluster's other databases,
 *   B's migration lock, privilege escalation, A's maintenance role, the catalog; then A
 *   plants functions (row-level-security policies, a trigger) that report who runs them, and
 *   the control plane migrates, archives, restores and moves A: no trap may run with more
 *   than A's rights, and A's fence must hold against A.
 *
 * Each probe is reported with pass, fail, warn (a documented limit) or skip (not on this
 * engine), and both tenants are purged at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { isolationContext, tenantIdentifier, type IsolationContext, type Warehouse } from '../isolation/index.js';
import { TENANT_ROLES } from '../access/index.js';
import type { TenantSpec } from '../tenants/index.js';

/** One probe's outcome. */
export interface Probe {
  id: string;
  area: 'api' | 'database' | 'setup';
  title: string;
  outcome: 'pass' | 'fail' | 'warn' | 'skip';
  detail?: string;
}

/** The self-test's report. */
export interface IsolationReport {
  ok: boolean;
  engine: 'postgres' | 'pglite';
  tenants: { attacker: string; victim: string };
  startedAt: string;
  durationMs: number;
  summary: { pass: number; fail: number; warn: number; skip: number };
  probes: Probe[];
}

/** An API call as the self-test makes it (in process: `app.inject`). */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  body?: unknown;
  /** Bearer credential; the caller's (a platform admin) when omitted. */
  token?: string;
  headers?: Record<string, string>;
}

/** What the API answered. */
export interface ApiResponse {
  status: number;
  body: unknown;
}

/** What the self-test needs of the deployment. */
export interface SelfTestDeps {
  /** Call the API as the given credential (the caller's by default). */
  api: (request: ApiRequest) => Promise<ApiResponse>;
  /** The tenants' warehouse: its engine, and the fence the probes try to lift. */
  databases: Warehouse;
  /** The store's PostgreSQL URL, if the store is on PostgreSQL (a tenant must not reach it). */
  storeUrl: string | undefined;
  /** Whether app migrations are configured (the migration probe runs only then). */
  migrations: boolean;
  /** The warehouse's role prefix, for the names the probes expect. */
  prefix: string;
}

const REFUSED = new Set(['42501', '42P01', '3F000', '42704', '28000', '28P01', '3D000', '0LP01', '42P17', '22023']);
const TIMEOUT_MS = 90_000;

/** Run the whole self-test; never throws for a failed probe (it is reported), only for a broken deployment. */
export async function verifyIsolation(deps: SelfTestDeps): Promise<IsolationReport> {
  const started = Date.now();
  const tag = randomBytes(3).toString('hex');
  const a = `iso-${tag}-a`;
  const b = `iso-${tag}-b`;
  const ghost = `iso-${tag}-z`;
  const probes: Probe[] = [];
  const report = (p: Probe) => probes.push(p);
  const { api } = deps;
  const engine = deps.databases.engine;
  try {
    for (const id of [a, b]) {
      const created = await api({ method: 'POST', url: '/v1/tenants', body: manifest(id) });
      if (created.status !== 201)
        throw new Error(`could not create probe tenant ${id}: ${created.status} ${JSON.stringify(created.body)}`);
    }
    await waitFor(api, a, (t) => t.status.phase === 'active');
    await waitFor(api, b, (t) => t.status.phase === 'active');
    report({
      id: 'setup.tenants',
      area: 'setup',
      title: `probe tenants ${a} (attacker) and ${b} (victim) are active`,
      outcome: 'pass',
    });
    await apiProbes(deps, { a, b, ghost }, report);
    if (engine === 'postgres') await databaseProbes(deps, { a, b }, report);
    else await embeddedProbes(deps, { a, b }, report);
  } catch (error) {
    report({
      id: 'setup.error',
      area: 'setup',
      title: 'the self-test ran to the end',
      outcome: 'fail',
      detail: (error as Error).message.slice(0, 500),
    });
  } finally {
    await cleanUp(api, [a, b], report);
  }
  const summary = { pass: 0, fail: 0, warn: 0, skip: 0 };
  for (const p of probes) summary[p.outcome] += 1;
  return {
    ok: summary.fail === 0,
    engine,
    tenants: { attacker: a, victim: b },
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    summary,
    probes,
  };
}

function manifest(id: string, profile = 'mt-standard'): Record<string, unknown> {
  return {
    apiVersion: 'tenancy/v1',
    kind: 'Tenant',
    metadata: { id, labels: { 'tenancy.io/self-test': 'isolation' } },
    spec: { name: `isolation self-test ${id}`, plan: 'pro', profile, config: { retentionDays: 0 } },
  };
}

interface TenantView {
  metadata: { generation: number };
  spec: TenantSpec;
  status: {
    phase: string;
    observedGeneration: number;
    placement?: { profile: string; movingFrom?: string | null };
    purgedAt?: string | null;
    conditions: Array<{ type: string; message: string }>;
  };
}

async function tenant(api: SelfTestDeps['api'], id: string): Promise<TenantView> {
  const res = await api({ method: 'GET', url: `/v1/tenants/${id}` });
  if (res.status !== 200) throw new Error(`GET /v1/tenants/${id} answered ${res.status}`);
  return res.body as TenantView;
}

async function waitFor(
  api: SelfTestDeps['api'],
  id: string,
  done: (t: TenantView) => boolean,
  what = 'the expected state',
): Promise<TenantView> {
  const until = Date.now() + TIMEOUT_MS;
  for (;;) {
    const t = await tenant(api, id);
    if (done(t)) return t;
    if (Date.now() > until)
      throw new Error(
        `probe tenant ${id} did not reach ${what} in time (phase ${t.status.phase}; ${t.status.conditions.map((c) => `${c.type}: ${c.message}`).join('; ')})`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A comparable summary of an answer: its status and problem code. */
function shape(res: ApiResponse): string {
  const code = typeof res.body === 'object' && res.body !== null ? (res.body as { code?: string }).code : undefined;
  return `${res.status}${code ? ` ${code}` : ''}`;
}

async function apiProbes(
  deps: SelfTestDeps,
  ids: { a: string; b: string; ghost: string },
  report: (p: Probe) => void,
): Promise<void> {
  const { api } = deps;
  const { a, b, ghost } = ids;
  // What B holds: a secret, an object, an API key (its id is probed by the key routes).
  await api({
    method: 'PUT',
    url: `/v1/tenants/${b}/secrets/probe-secret`,
    body: { value: `victim-${randomBytes(6).toString('hex')}` },
  });
  await api({
    method: 'PUT',
    url: `/v1/tenants/${b}/objects/probe.txt`,
    body: 'victim object',
    headers: { 'content-type': 'text/plain' },
  });
  const bKey = (
    await api({ method: 'POST', url: `/v1/tenants/${b}/api-keys`, body: { name: 'probe', role: 'viewer' } })
  ).body as { id: string };
  // A's credentials: one API key per tenant role, and a JWT.
  const creds: Array<{ name: string; token: string }> = [];
  for (const role of TENANT_ROLES) {
    const res = await api({
      method: 'POST',
      url: `/v1/tenants/${a}/api-keys`,
      body: { name: `isolation probe ${role}`, role },
    });
    if (res.status !== 201) throw new Error(`could not create a ${role} key for ${a}: ${res.status}`);
    creds.push({ name: role, token: (res.body as { token: string }).token });
  }
  const jwt = await api({ method: 'POST', url: '/v1/tokens', body: {}, token: creds[0]!.token });
  if (jwt.status === 200) creds.push({ name: 'owner JWT', token: (jwt.body as { token: string }).token });
  const before = await victimState(api, b);

  const doc = (await api({ method: 'GET', url: '/openapi.json' })).body as {
    paths: Record<string, Record<string, unknown>>;
  };
  const fill = (path: string, id: string) =>
    path
      .replace('{id}', id)
      .replace('{keyId}', bKey.id)
      .replace('{name}', 'probe-secret')
      .replace('{key}', 'probe.txt')
      .replace('{quota}', 'maxUsers')
      .replace(/\{[A-Za-z]+\}/g, 'probe');
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (!path.includes('{id}')) continue;
    for (const method of Object.keys(ops)) {
      const m = method.toUpperCase() as ApiRequest['method'];
      const body = m === 'GET' || m === 'DELETE' ? undefined : {};
      const headers: Record<string, string> | undefined =
        m === 'PATCH' ? { 'content-type': 'application/merge-patch+json' } : undefined;
      const differences: string[] = [];
      for (const cred of creds) {
        const victim = await api({
          method: m,
          url: fill(path, b),
          body,
          token: cred.token,
          ...(headers ? { headers } : {}),
        });
        const none = await api({
          method: m,
          url: fill(path, ghost),
          body,
          token: cred.token,
          ...(headers ? { headers } : {}),
        });
        if (victim.status < 400 || shape(victim) !== shape(none))
          differences.push(`${cred.name}: ${shape(victim)} (unknown tenant: ${shape(none)})`);
      }
      report({
        id: `api.${m.toLowerCase()} ${path}`,
        area: 'api',
        title: `${m} ${path} as every role of ${a}, aimed at ${b}, answers as for a tenant that does not exist`,
        outcome: differences.length ? 'fail' : 'pass',
        ...(differences.length ? { detail: differences.join('; ') } : {}),
      });
    }
  }

  const encodings: Array<[string, (id: string) => string]> = [
    ['upper case', (id) => id.toUpperCase()],
    ['percent-encoded', (id) => [...id].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')],
    ['double-encoded', (id) => `%25${id.charCodeAt(0).toString(16)}${id.slice(1)}`],
    ['trailing slash', (id) => `${id}/`],
    ['dot segment', (id) => `./${id}`],
    ['parent segment', (id) => `${a}/../${id}`],
    ['encoded slash', (id) => `${a}%2F..%2F${id}`],
    ['leading space', (id) => `%20${id}`],
  ];
  for (const [name, encode] of encodings) {
    const differences: string[] = [];
    for (const suffix of ['', '/secrets', '/connection']) {
      for (const cred of creds) {
        const victim = await api({ method: 'GET', url: `/v1/tenants/${encode(b)}${suffix}`, token: cred.token });
        const none = await api({ method: 'GET', url: `/v1/tenants/${encode(ghost)}${suffix}`, token: cred.token });
        if (victim.status < 400 || shape(victim) !== shape(none) || JSON.stringify(victim.body).includes('victim-'))
          differences.push(`${cred.name} ${suffix || '/'}: ${shape(victim)} vs ${shape(none)}`);
      }
    }
    report({
      id: `api.encoding.${name}`,
      area: 'api',
      title: `B's id ${name} in the path does not reach B`,
      outcome: differences.length ? 'fail' : 'pass',
      ...(differences.length ? { detail: differences.join('; ') } : {}),
    });
  }

  const lists = [
    '/v1/audit',
    '/v1/jobs',
    '/v1/events',
    '/v1/usage/report',
    '/v1/principal',
    '/v1/approvals',
    '/v1/webhooks',
    '/v1/tenants',
  ];
  const leaks: string[] = [];
  for (const route of lists) {
    for (const cred of creds) {
      for (const [how, request] of [
        ['X-Tenant-ID', { method: 'GET', url: route, token: cred.token, headers: { 'x-tenant-id': b } }],
        ['?tenant=', { method: 'GET', url: `${route}?tenant=${b}`, token: cred.token }],
        ['plain', { method: 'GET', url: route, token: cred.token }],
      ] as Array<[string, ApiRequest]>) {
        const res = await api(request);
        // A's own records (its denied requests name B because A named B) are A's business.
        if (res.status < 400 && JSON.stringify(withoutOwn(res.body, a)).includes(b))
          leaks.push(`${cred.name} ${how} ${route}: ${res.status} names ${b}`);
      }
    }
  }
  report({
    id: 'api.spoofing',
    area: 'api',
    title: `a spoofed X-Tenant-ID or ?tenant= on the list routes shows A nothing of ${b}`,
    outcome: leaks.length ? 'fail' : 'pass',
    ...(leaks.length ? { detail: leaks.slice(0, 20).join('; ') } : {}),
  });

  const after = await victimState(api, b);
  report({
    id: 'api.state',
    area: 'api',
    title: `${b}'s state is unchanged after every probe`,
    outcome: after === before ? 'pass' : 'fail',
    ...(after === before ? {} : { detail: `before ${before}; after ${after}` }),
  });
}

/** The body without list items that belong to `tenant` (its own audit records, events, jobs). */
function withoutOwn(body: unknown, tenant: string): unknown {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { items?: unknown }).items)) return body;
  const items = (body as { items: Array<Record<string, unknown>> }).items.filter(
    (i) => i.tenantId !== tenant && i.tenantid !== tenant && i.tenant !== tenant,
  );
  return { ...body, items };
}

/** What an attack could change of the victim: its spec and phase, secrets, keys and objects. */
async function victimState(api: SelfTestDeps['api'], id: string): Promise<string> {
  const parts = await Promise.all(
    [
      `/v1/tenants/${id}`,
      `/v1/tenants/${id}/secrets`,
      `/v1/tenants/${id}/api-keys`,
      `/v1/tenants/${id}/objects`,
      `/v1/tenants/${id}/secrets/probe-secret`,
    ].map((url) => api({ method: 'GET', url })),
  );
  const t = parts[0]!.body as TenantView;
  return JSON.stringify([t.metadata.generation, t.status.phase, t.spec, ...parts.slice(1).map((p) => p.body)]);
}

interface Descriptor {
  url: string | null;
  role: string;
  database: string;
  schema: string;
}

async function descriptor(api: SelfTestDeps['api'], id: string): Promise<Descriptor> {
  const res = await api({ method: 'GET', url: `/v1/tenants/${id}/connection` });
  if (res.status !== 200) throw new Error(`GET /v1/tenants/${id}/connection answered ${res.status}`);
  return (res.body as { database: Descriptor }).database;
}

async function connect(url: string, options: { database?: string; user?: string } = {}): Promise<pg.Client> {
  const u = new URL(url);
  if (options.database !== undefined) u.pathname = `/${options.database}`;
  if (options.user !== undefined) {
    u.username = options.user;
    u.password = 'not-the-password';
  }
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Run `attempt`; a refusal (an SQLSTATE of the refused kind) is what passes. */
async function refused(attempt: () => Promise<unknown>): Promise<{ refused: boolean; detail: string }> {
  try {
    await attempt();
    return { refused: false, detail: 'allowed' };
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    return { refused: REFUSED.has(code), detail: `${code} ${(error as Error).message}`.slice(0, 200) };
  }
}

async function placement(api: SelfTestDeps['api'], id: string): Promise<IsolationContext> {
  const t = await tenant(api, id);
  return isolationContext(id, t.spec, t.status.placement?.profile);
}

async function databaseProbes(
  deps: SelfTestDeps,
  ids: { a: string; b: string },
  report: (p: Probe) => void,
): Promise<void> {
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
    report({ id: `db.${id}`, area: 'database', title, outcome: r.refused ? 'pass' : 'fail', detail: r.detail });
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
  report({
    id: 'db.maintenance-login',
    area: 'database',
    title: "A cannot log in as its own maintenance role (the control plane's way in)",
    outcome: login.refused ? 'pass' : 'fail',
    detail: login.detail,
  });

  await fenceProbe(deps, a, dA.url, report);
  await plantedProbes(deps, ids, report);

  // After the move A has a database of its own: B cannot enter it.
  const moved = await descriptor(api, a);
  const enter = await refused(async () => (await connect(dB.url!, { database: moved.database })).end());
  report({
    id: 'db.connect.dedicated',
    area: 'database',
    title: "B cannot connect to A's dedicated database",
    outcome: enter.refused ? 'pass' : 'fail',
    detail: enter.detail,
  });
}

function sameServer(a: string, b: string): boolean {
  const host = (u: URL) =>
    `${(u.searchParams.get('host') ?? u.hostname).replace(/^localhost$/, '127.0.0.1')}:${u.port || '5432'}`;
  return host(new URL(a)) === host(new URL(b));
}

/** A tries to outlast a move's fence: a role setting made before it, a new login during it. */
async function fenceProbe(deps: SelfTestDeps, a: string, url: string, report: (p: Probe) => void): Promise<void> {
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

const TRAP_LOG = 'iso_probe_trap_log';

/** A plants traps; the control plane migrates, archives, restores and moves A; the traps report who ran them. */
async function plantedProbes(
  deps: SelfTestDeps,
  ids: { a: string; b: string },
  report: (p: Probe) => void,
): Promise<void> {
  const { api } = deps;
  const { a, b } = ids;
  const dB = await descriptor(api, b);
  const plant = async () => {
    const c = await connect((await descriptor(api, a)).url!);
    try {
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
    } finally {
      await c.end();
    }
  };
  const verdict = async () => {
    const c = await connect((await descriptor(api, a)).url!);
    try {
      const rows = (
        await c.query<{ phase: string; who: string; sess: string; sup: boolean; leak: string | null }>(
          `select * from ${TRAP_LOG}`,
        )
      ).rows;
      const mine = new Set([tenantIdentifier(a, deps.prefix), `${deps.prefix}m_${a.replace(/-/g, '_')}`]);
      const bad = rows.filter((r) => r.sup || r.leak !== null || !mine.has(r.who) || !mine.has(r.sess));
      const trapped = await c.query<{ n: number }>('select count(*)::int as n from iso_trap_t').catch(() => undefined);
      return { bad, ran: rows.length, rows: trapped };
    } finally {
      await c.end();
    }
  };

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
  const owner = await connect((await descriptor(api, a)).url!);
  const kept = (
    await owner.query<{ n: number }>('select count(*)::int as n from iso_trap_t').catch(() => ({ rows: [{ n: -1 }] }))
  ).rows[0]!.n;
  await owner.end();
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

async function waitJob(api: SelfTestDeps['api'], id: string): Promise<string> {
  const until = Date.now() + TIMEOUT_MS;
  for (;;) {
    const job = (await api({ method: 'GET', url: `/v1/jobs/${id}` })).body as { state?: string };
    if (job.state === 'succeeded' || job.state === 'failed') return job.state;
    if (Date.now() > until) return `still ${job.state ?? 'unknown'}`;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The embedded warehouse has no network endpoint: no tenant connects to it. What can be checked in process, is. */
async function embeddedProbes(
  deps: SelfTestDeps,
  ids: { a: string; b: string },
  report: (p: Probe) => void,
): Promise<void> {
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
  report({
    id: 'db.read',
    area: 'database',
    title: "work the control plane does as A cannot read B's table",
    outcome: r.refused ? 'pass' : 'fail',
    detail: r.detail,
  });
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

/** Purge both probe tenants (retention 0); report when one is left behind. */
async function cleanUp(api: SelfTestDeps['api'], ids: string[], report: (p: Probe) => void): Promise<void> {
  const left: string[] = [];
  for (const id of ids) await api({ method: 'DELETE', url: `/v1/tenants/${id}` }).catch(() => undefined);
  for (const id of ids) {
    const until = Date.now() + TIMEOUT_MS;
    for (;;) {
      const res = await api({ method: 'GET', url: `/v1/tenants/${id}` }).catch(() => undefined);
      if (!res || res.status === 404 || (res.body as TenantView).status?.purgedAt) break;
      if (Date.now() > until) {
        left.push(id);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  report({
    id: 'setup.cleanup',
    area: 'setup',
    title: 'both probe tenants are purged',
    outcome: left.length ? 'warn' : 'pass',
    ...(left.length ? { detail: `not yet purged: ${left.join(', ')}` } : {}),
  });
}
