/**
 * Tenant databases on PostgreSQL, through the tenant's strategy: a schema and role in the
 * shared warehouse, or a database of its own. The role's password is generated once and
 * kept encrypted with the tenant's key ring, so crypto-shredding makes it unreadable too.
 *
 * Two kinds of connection, never mixed:
 * - the admin pool (the control plane's own role, ideally CREATEROLE + CREATEDB and no
 *   superuser) runs only statements that execute no tenant code: role and database DDL,
 *   DROP, GRANT, catalog reads, with qualified names and `search_path` pinned to
 *   `pg_catalog`;
 * - everything that reads or writes a tenant's tables (migrations, archive, restore, move)
 *   runs over a connection that logs in as the tenant's maintenance role and switches to
 *   the tenant's role: whatever the tenant planted (policies, triggers, views, defaults,
 *   operators) runs with the tenant's rights, and a planted `RESET ROLE` falls back to a
 *   role with no rights at all. The maintenance role can log in only for the instant the
 *   control plane opens such a session, with a one-time password.
 */
import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { TenancyError } from '../../errors.js';
import type { Schema } from '../../schema.js';
import type { KeyRing } from '../../keys/index.js';
import { DedicatedDatabaseMapper } from '../dedicated/dedicated-database-mapper.js';
import type { Installation } from '../installation.js';
import { SharedDatabaseMapper, ensureTenantRoles, type RoleIdentity } from '../shared/shared-database-mapper.js';
import { databaseLayout, type IsolationContext } from '../strategy.js';
import { inRoleTransaction, roleExists, setRoleLogin } from '../tenant-role.js';
import { TenantSessions, type TenantPlace } from './postgres-sessions.js';
import { preparePgvector } from './vector-extension.js';
import {
  inPgTransaction,
  type DatabaseConnection,
  type ObservedWarehouse,
  type TenantSession,
  type Warehouse,
} from './warehouse.js';
import { tenantFacts } from '../../tenants/tenant-rows.js';

const KIND = 'database-role';

/** Settings of the admin pool: nothing a tenant can name is resolved through a search path, and a tenant's locks cannot hold DDL forever. */
const ADMIN_OPTIONS = '-c search_path=pg_catalog,pg_temp -c lock_timeout=30000';

/** Whether the tenant's strategy places it in a schema of the shared warehouse (else a database of its own). */
const inSharedWarehouse = (ctx: IsolationContext): boolean => databaseLayout(ctx).kind === 'schema';

/** Options beyond the connection. */
export interface PostgresWarehouseOptions {
  /** Who this installation is, and the prefix of its roles and databases. */
  installation: Installation;
  /** Longest a statement in a tenant session may run before the control plane ends the session (default 300 s). */
  tenantStatementTimeoutMs?: number;
  /** The store's database name and address, when on PostgreSQL: the warehouse must be another database. */
  storeUrl?: string;
}

/** Database resources of tenants on one PostgreSQL cluster. */
export class PostgresWarehouse implements Warehouse {
  readonly engine = 'postgres' as const;
  readonly shared: SharedDatabaseMapper;
  readonly dedicated: DedicatedDatabaseMapper;
  readonly #warehouseDatabase: string;
  readonly #admin: Kysely<unknown>;
  readonly #pool: pg.Pool;
  readonly #uids = new Map<string, string>();
  readonly #statementTimeoutMs: number;
  /** Sessions as tenants (maintenance logins), kept a moment for reuse. */
  readonly #sessions: TenantSessions;

  constructor(
    private readonly store: Kysely<Schema>,
    private readonly keyRing: KeyRing,
    private readonly warehouseUrl: string,
    private readonly options: PostgresWarehouseOptions,
  ) {
    this.#warehouseDatabase = decodeURIComponent(new URL(warehouseUrl).pathname.slice(1));
    this.#pool = new pg.Pool({ connectionString: warehouseUrl, max: 4, options: ADMIN_OPTIONS });
    this.#pool.on('error', () => undefined);
    this.#admin = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: this.#pool }) });
    this.shared = new SharedDatabaseMapper(this.#admin, this.#warehouseDatabase, this.prefix);
    this.dedicated = new DedicatedDatabaseMapper(this.#admin, this.prefix);
    this.#statementTimeoutMs = options.tenantStatementTimeoutMs ?? 300_000;
    this.#sessions = new TenantSessions(this.#admin, warehouseUrl);
  }

  /** The prefix of this installation's roles and databases. */
  get prefix(): string {
    return this.options.installation.warehousePrefix;
  }

  /**
   * Once at start-up: refuse a warehouse in the store's own database, close the warehouse
   * to PUBLIC, create pgvector where the server has it and the admin may, and report
   * databases on the cluster any tenant role could still connect to.
   */
  async prepare(): Promise<string[]> {
    if (this.options.storeUrl && sameDatabase(this.options.storeUrl, this.warehouseUrl)) {
      throw new TenancyError(
        'warehouse_is_store',
        "TENANCY_WAREHOUSE_URL names the control plane's own database: tenant roles would reach its tables and locks; give the warehouse a database of its own",
      );
    }
    await this.shared.prepareWarehouse();
    // A maintenance role left able to log in (a crash between its login and its NOLOGIN) is closed again.
    const open = await sql<{ name: string }>`
      select rolname as name from pg_catalog.pg_roles
       where rolcanlogin and rolname like ${`${this.prefix.replace(/_/g, '\\_')}m\\_%`}
         and pg_catalog.shobj_description(oid, 'pg_authid') like ${`tenancy/v1 installation=${this.options.installation.id} %role=maintenance`}`.execute(
      this.#admin,
    );
    for (const r of open.rows) await sql`alter role ${sql.id(r.name)} nologin`.execute(this.#admin);
    return [
      ...(await preparePgvector(this.#admin)),
      ...(await publicDatabaseWarnings(this.#admin, [this.#warehouseDatabase])),
    ];
  }

  async #password(tenantId: string): Promise<string> {
    const row = await this.store
      .selectFrom('tenant_credentials')
      .select('ciphertext')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', KIND)
      .executeTakeFirst();
    if (row) return (await this.keyRing.decrypt(tenantId, 'credential', row.ciphertext)).toString('utf8');
    const password = randomBytes(24).toString('base64url');
    const ciphertext = await this.keyRing.encrypt(tenantId, 'credential', Buffer.from(password));
    await this.store
      .insertInto('tenant_credentials')
      .values({ tenant_id: tenantId, kind: KIND, ciphertext, updated_at: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['tenant_id', 'kind']).doNothing())
      .execute();
    // Another replica may have stored one first: use what is stored.
    const stored = await this.store
      .selectFrom('tenant_credentials')
      .select('ciphertext')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', KIND)
      .executeTakeFirstOrThrow();
    return (await this.keyRing.decrypt(tenantId, 'credential', stored.ciphertext)).toString('utf8');
  }

  /** Whose the tenant's roles are: this installation's, made for this tenant (its uid). */
  async #identity(tenantId: string): Promise<RoleIdentity> {
    let uid = this.#uids.get(tenantId);
    if (uid === undefined) {
      const row = await tenantFacts(this.store, tenantId);
      if (!row) throw new TenancyError('tenant_not_found', `tenant ${tenantId} does not exist`);
      uid = row.uid;
      this.#uids.set(tenantId, uid);
    }
    const legacy = await this.store
      .selectFrom('warehouse_legacy_roles')
      .select('tenant_id')
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return {
      owner: { installationId: this.options.installation.id, tenantId, tenantUid: uid },
      adoptUnmarked: legacy !== undefined,
    };
  }

  #place(ctx: IsolationContext): TenantPlace {
    if (inSharedWarehouse(ctx)) return { ...this.shared.names(ctx.tenantId), database: this.#warehouseDatabase };
    return { ...this.dedicated.names(ctx.tenantId), schema: 'public' };
  }

  async ensure(ctx: IsolationContext): Promise<void> {
    const request = { ...(await this.#identity(ctx.tenantId)), password: await this.#password(ctx.tenantId) };
    if (inSharedWarehouse(ctx)) await this.shared.ensure(ctx.tenantId, request);
    else await this.dedicated.ensure(ctx.tenantId, request);
    // Marked now: the legacy allowance has done its work.
    if (request.adoptUnmarked)
      await this.store.deleteFrom('warehouse_legacy_roles').where('tenant_id', '=', ctx.tenantId).execute();
  }

  async observe(ctx: IsolationContext): Promise<ObservedWarehouse> {
    const seen = inSharedWarehouse(ctx)
      ? await this.shared.observe(ctx.tenantId)
      : await this.dedicated.observe(ctx.tenantId);
    if (!seen) return { exists: false, canLogin: false };
    const exists =
      'schemaExists' in seen
        ? seen.roleExists && seen.schemaExists && seen.ownedByTenant
        : seen.roleExists && seen.databaseExists && seen.ownedByTenant;
    return { exists, canLogin: seen.canLogin };
  }

  async setLogin(ctx: IsolationContext, enabled: boolean): Promise<void> {
    await setRoleLogin(this.#admin, this.#place(ctx).role, enabled);
  }

  async remove(ctx: IsolationContext): Promise<void> {
    const identity = await this.#identity(ctx.tenantId);
    await this.#sessions.forget(this.#place(ctx).maintenance);
    // Whatever the profile, both kinds of place go: a move may have left either behind.
    await this.dedicated.removeDatabase(ctx.tenantId, identity);
    await this.shared.remove(ctx.tenantId, identity);
    await this.dedicated.remove(ctx.tenantId, identity);
    await this.store
      .deleteFrom('tenant_credentials')
      .where('tenant_id', '=', ctx.tenantId)
      .where('kind', '=', KIND)
      .execute();
    await this.store.deleteFrom('warehouse_legacy_roles').where('tenant_id', '=', ctx.tenantId).execute();
  }

  async removePlace(ctx: IsolationContext): Promise<void> {
    const identity = await this.#identity(ctx.tenantId);
    await this.#sessions.forget(this.#place(ctx).maintenance);
    if (inSharedWarehouse(ctx)) await this.shared.removeSchema(ctx.tenantId, identity);
    else await this.dedicated.removeDatabase(ctx.tenantId, identity);
  }

  /**
   * The move's write fence: the tenant's role stops logging in and its sessions end. Only a
   * CREATEROLE holder can give LOGIN back, so nothing the tenant runs can lift it.
   */
  async fence(ctx: IsolationContext): Promise<void> {
    await setRoleLogin(this.#admin, this.#place(ctx).role, false);
  }

  /** Bytes of the tenant's tables: a catalog read for a shared tenant, a session as the tenant in its own database. */
  async sizeBytes(ctx: IsolationContext): Promise<number> {
    if (inSharedWarehouse(ctx)) {
      const { schema } = this.#place(ctx);
      const r = await sql<{ bytes: string }>`
        select coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::text as bytes
          from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname = ${schema} and c.relkind in ('r', 'm', 'p')`.execute(this.#admin);
      return Number(r.rows[0]?.bytes ?? 0);
    }
    const rows = await this.withTenant(ctx, (s) =>
      s.query<{ bytes: string }>(
        `select coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::text as bytes from pg_catalog.pg_class c
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'm', 'p')`,
      ),
    );
    return Number(rows[0]?.bytes ?? 0);
  }

  /** Always: measuring opens at most one short session, on a server made for many. */
  samplable(): boolean {
    return true;
  }

  /** The tenant's connection (decrypts its password). */
  async connection(ctx: IsolationContext): Promise<DatabaseConnection> {
    const password = await this.#password(ctx.tenantId);
    const { role, database, schema } = this.#place(ctx);
    const u = new URL(this.warehouseUrl);
    u.username = role;
    u.password = password;
    u.pathname = `/${database}`;
    return { engine: 'postgres', url: u.toString(), role, database, schema, isolation: 'database-enforced' };
  }

  /**
   * Run `fn` in one transaction as the tenant, over a connection that logs in as the
   * tenant's maintenance role (never the admin pool). Each statement is bounded: one that
   * runs past the limit has its session ended from the admin pool, whatever the session
   * itself was told to allow. Sessions are kept for a moment and reused by the next
   * transaction on the same place (an operation runs several), reset in between.
   */
  async withTenant<T>(ctx: IsolationContext, fn: (session: TenantSession) => Promise<T>): Promise<T> {
    const place = this.#place(ctx);
    const { role, schema } = place;
    const session = await this.#sessions.acquire(place, () => this.#ensureMaintenanceRole(ctx, place));
    const limit = this.#statementTimeoutMs;
    const guarded = {
      query: async (text: string, params?: unknown[]) => {
        const timer = setTimeout(
          () =>
            void sql`select pg_catalog.pg_terminate_backend(${session.pid}::int)`
              .execute(this.#admin)
              .catch(() => undefined),
          limit + 1_000,
        );
        try {
          return await session.client.query(text, params);
        } finally {
          clearTimeout(timer);
        }
      },
    };
    let ok = false;
    try {
      const result = await inPgTransaction(
        guarded,
        [
          `set local role ${pg.escapeIdentifier(role)}`,
          `set local search_path = ${pg.escapeIdentifier(schema)}`,
          `set local statement_timeout = ${limit}`,
        ],
        fn,
      );
      ok = true;
      return result;
    } finally {
      await this.#sessions.release(session, ok);
    }
  }

  /** A tenant provisioned before maintenance roles existed: make its roles as they are now. */
  async #ensureMaintenanceRole(ctx: IsolationContext, place: TenantPlace): Promise<void> {
    if (await roleExists(this.#admin, place.maintenance)) return;
    const request = { ...(await this.#identity(ctx.tenantId)), password: await this.#password(ctx.tenantId) };
    await inRoleTransaction(this.#admin, (trx) =>
      ensureTenantRoles(
        trx,
        { role: place.role, maintenance: place.maintenance },
        request,
        inSharedWarehouse(ctx) ? { inherit: false, searchPath: place.schema } : { inherit: true },
      ),
    );
  }

  async inventory(): Promise<{ schemas: string[]; databases: string[] }> {
    const like = `${this.prefix.replace(/_/g, '\\_')}t\\_%`;
    const schemas = await sql<{
      name: string;
    }>`select nspname as name from pg_catalog.pg_namespace where nspname like ${like} order by 1`.execute(this.#admin);
    const dbs = await sql<{
      name: string;
    }>`select datname as name from pg_catalog.pg_database where datname like ${`${this.prefix.replace(/_/g, '\\_')}warehouse\\_%`} order by 1`.execute(
      this.#admin,
    );
    return { schemas: schemas.rows.map((r) => r.name), databases: dbs.rows.map((r) => r.name) };
  }

  async close(): Promise<void> {
    await this.#sessions.close();
    await this.#admin.destroy();
  }
}

/** Whether two PostgreSQL URLs name the same database on the same server. */
function sameDatabase(a: string, b: string): boolean {
  const key = (url: string) => {
    const u = new URL(url);
    const host = u.searchParams.get('host') ?? u.hostname;
    return `${host.replace(/^localhost$/, '127.0.0.1')}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1))}`;
  };
  return key(a) === key(b);
}

/**
 * Databases on the cluster, other than `except` (the warehouse, closed by prepare), that
 * PUBLIC (so every tenant role) may connect to: reported with what a superuser should run.
 * The control plane revokes CONNECT only on databases it makes or owns itself (its store,
 * its warehouse, tenants' databases), never on others'.
 */
export async function publicDatabaseWarnings(admin: Kysely<unknown>, except: string[]): Promise<string[]> {
  const open = await sql<{ name: string }>`
    select d.datname as name from pg_catalog.pg_database d
     where d.datallowconn
       and exists (select 1 from pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a where a.grantee = 0 and a.privilege_type = 'CONNECT')
     order by 1`.execute(admin);
  const foreign = open.rows.map((r) => r.name).filter((name) => !except.includes(name));
  if (foreign.length === 0) return [];
  return [
    `tenant roles can connect to database(s) ${foreign.join(', ')} on the warehouse cluster (PUBLIC has CONNECT there); ` +
      `a superuser should run: ${foreign.map((d) => `REVOKE CONNECT ON DATABASE ${pg.escapeIdentifier(d)} FROM PUBLIC;`).join(' ')}`,
  ];
}
