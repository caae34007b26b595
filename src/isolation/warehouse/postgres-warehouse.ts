/**
 * Tenant databases on PostgreSQL, through the tenant's strategy: a schema and role in the
 * shared warehouse, or a database of its own. The role's password is generated once and
 * kept encrypted with the tenant's key ring, so crypto-shredding makes it unreadable too.
 */
import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Schema } from '../../infra/sql/index.js';
import type { KeyRing } from '../../keys/index.js';
import { DedicatedDatabaseMapper } from '../dedicated/dedicated-database-mapper.js';
import { SharedDatabaseMapper } from '../shared/shared-database-mapper.js';
import type { IsolationContext } from '../strategy.js';
import { inPgTransaction, type DatabaseConnection, type ObservedWarehouse, type TenantSession, type Warehouse } from './warehouse.js';

const KIND = 'database-role';

/** Database resources of tenants on one PostgreSQL cluster. */
export class PostgresWarehouse implements Warehouse {
  readonly engine = 'postgres' as const;
  readonly shared: SharedDatabaseMapper;
  readonly dedicated: DedicatedDatabaseMapper;
  readonly #warehouseDatabase: string;
  readonly #admin: Kysely<unknown>;
  readonly #pool: pg.Pool;

  constructor(
    private readonly store: Kysely<Schema>,
    private readonly keyRing: KeyRing,
    private readonly warehouseUrl: string,
    private readonly prefix = '',
  ) {
    this.#warehouseDatabase = decodeURIComponent(new URL(warehouseUrl).pathname.slice(1));
    this.#pool = new pg.Pool({ connectionString: warehouseUrl, max: 4 });
    this.#pool.on('error', () => undefined);
    this.#admin = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: this.#pool }) });
    this.shared = new SharedDatabaseMapper(this.#admin, this.#warehouseDatabase, prefix);
    this.dedicated = new DedicatedDatabaseMapper(this.#admin, prefix);
  }

  /** Close the shared warehouse to PUBLIC (once at start-up). */
  prepare(): Promise<void> {
    return this.shared.prepareWarehouse();
  }

  async #password(tenantId: string): Promise<string> {
    const row = await this.store.selectFrom('tenant_credentials').select('ciphertext').where('tenant_id', '=', tenantId).where('kind', '=', KIND).executeTakeFirst();
    if (row) return (await this.keyRing.decrypt(tenantId, 'credential', row.ciphertext)).toString('utf8');
    const password = randomBytes(24).toString('base64url');
    const ciphertext = await this.keyRing.encrypt(tenantId, 'credential', Buffer.from(password));
    await this.store
      .insertInto('tenant_credentials')
      .values({ tenant_id: tenantId, kind: KIND, ciphertext, updated_at: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['tenant_id', 'kind']).doNothing())
      .execute();
    // Another replica may have stored one first: use what is stored.
    const stored = await this.store.selectFrom('tenant_credentials').select('ciphertext').where('tenant_id', '=', tenantId).where('kind', '=', KIND).executeTakeFirstOrThrow();
    return (await this.keyRing.decrypt(tenantId, 'credential', stored.ciphertext)).toString('utf8');
  }

  #mapper(ctx: IsolationContext): SharedDatabaseMapper | DedicatedDatabaseMapper {
    return ctx.profile === 'mt-standard' ? this.shared : this.dedicated;
  }

  #place(ctx: IsolationContext): { role: string; database: string; schema: string } {
    if (ctx.profile === 'mt-standard') return { ...this.shared.names(ctx.tenantId), database: this.#warehouseDatabase };
    return { ...this.dedicated.names(ctx.tenantId), schema: 'public' };
  }

  async ensure(ctx: IsolationContext): Promise<void> {
    await this.#mapper(ctx).ensure(ctx.tenantId, await this.#password(ctx.tenantId));
  }

  async observe(ctx: IsolationContext): Promise<ObservedWarehouse> {
    const seen = await this.#mapper(ctx).observe(ctx.tenantId);
    if (!seen) return { exists: false, canLogin: false };
    const exists = 'schemaExists' in seen ? seen.roleExists && seen.schemaExists : seen.roleExists && seen.databaseExists;
    return { exists, canLogin: seen.canLogin };
  }

  async setLogin(ctx: IsolationContext, enabled: boolean): Promise<void> {
    const mapper = this.#mapper(ctx);
    await (enabled ? mapper.enableLogin(ctx.tenantId) : mapper.disableLogin(ctx.tenantId));
  }

  async remove(ctx: IsolationContext): Promise<void> {
    await this.#mapper(ctx).remove(ctx.tenantId);
    await this.store.deleteFrom('tenant_credentials').where('tenant_id', '=', ctx.tenantId).where('kind', '=', KIND).execute();
  }

  async removePlace(ctx: IsolationContext): Promise<void> {
    const { database, schema } = this.#place(ctx);
    if (ctx.profile === 'mt-standard') await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(this.#admin);
    else await sql`drop database if exists ${sql.id(database)} with (force)`.execute(this.#admin);
  }

  async setReadOnly(ctx: IsolationContext, readOnly: boolean): Promise<void> {
    const { role } = this.#place(ctx);
    if ((await sql<{ n: number }>`select count(*)::int as n from pg_roles where rolname = ${role}`.execute(this.#admin)).rows[0]!.n === 0) return;
    if (readOnly) {
      await sql`alter role ${sql.id(role)} set default_transaction_read_only = on`.execute(this.#admin);
      // Open sessions keep their settings: end them, so every session from now on is read-only.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role} and pid <> pg_backend_pid()`.execute(this.#admin);
    } else {
      await sql`alter role ${sql.id(role)} reset default_transaction_read_only`.execute(this.#admin);
    }
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
   * The platform's connection to the tenant's database, switched to the tenant's role for
   * one transaction (SET LOCAL ROLE), so what runs here has exactly the tenant's rights and
   * what it creates is owned by the tenant.
   */
  async withTenant<T>(ctx: IsolationContext, fn: (session: TenantSession) => Promise<T>): Promise<T> {
    const { role, database, schema } = this.#place(ctx);
    const url = new URL(this.warehouseUrl);
    url.pathname = `/${database}`;
    // Shared tenants live in the warehouse database (the pool's); a dedicated one needs a connection to its own database.
    const own = database !== this.#warehouseDatabase;
    const client = own ? new pg.Client({ connectionString: url.toString() }) : await this.#pool.connect();
    if (own) {
      client.on('error', () => undefined);
      await client.connect();
    }
    try {
      return await inPgTransaction(client, [`set local role ${pg.escapeIdentifier(role)}`, `set local search_path = ${pg.escapeIdentifier(schema)}`], fn);
    } finally {
      if (own) await (client as pg.Client).end().catch(() => undefined);
      else (client as pg.PoolClient).release();
    }
  }

  async inventory(): Promise<{ schemas: string[]; databases: string[] }> {
    const like = `${this.prefix.replace(/_/g, '\\_')}t\\_%`;
    const schemas = await sql<{ name: string }>`select nspname as name from pg_namespace where nspname like ${like} order by 1`.execute(this.#admin);
    const dbs = await sql<{ name: string }>`select datname as name from pg_database where datname like ${`${this.prefix.replace(/_/g, '\\_')}warehouse\\_%`} order by 1`.execute(this.#admin);
    return { schemas: schemas.rows.map((r) => r.name), databases: dbs.rows.map((r) => r.name) };
  }

  async close(): Promise<void> {
    await this.#admin.destroy();
  }
}
