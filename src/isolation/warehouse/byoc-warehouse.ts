/**
 * Bring-your-own-cloud databases (profile st-byoc): the tenant's data lives in a
 * PostgreSQL database the tenant runs, whose URL it stores as a tenant secret (encrypted
 * with its key ring) and names in `spec.byoc.databaseSecret`. The control plane connects
 * with exactly those credentials; it creates no roles there and never drops anything:
 * suspending, archiving and purging leave the tenant's own database alone (archive still
 * exports it, and the export is what a purge deletes).
 */
import pg from 'pg';
import { TenancyError } from '../../errors.js';
import { redactUrl } from '../../infra/sql/index.js';
import type { SecretStore } from '../../keys/index.js';
import { databaseLayout, type IsolationContext } from '../strategy.js';
import { checkedAddress, parseByocUrl, type ByocTarget, type Resolver } from './byoc-target.js';
import {
  inPgTransaction,
  type DatabaseConnection,
  type ObservedWarehouse,
  type TenantSession,
  type Warehouse,
} from './warehouse.js';

const ACTOR = { id: 'system:controller', correlationId: null };

/** Tenants' own PostgreSQL databases. */
export class ByocWarehouse implements Warehouse {
  readonly engine = 'postgres' as const;

  /**
   * @param options.allowPrivate let URLs point at loopback, private or link-local addresses.
   *   Off by default: a tenant writes its own secret, and the control plane must not become
   *   its way into the platform's own databases (a confused deputy). Unix sockets stay refused
   *   even then: a socket is always a server on the control plane's own machine.
   * @param options.resolve DNS, replaceable at the edge for tests.
   */
  constructor(
    private readonly secrets: SecretStore,
    private readonly options: { allowPrivate: boolean; resolve?: Resolver } = { allowPrivate: false },
  ) {}

  async prepare(): Promise<string[]> {
    return [];
  }

  /** The tenant's database URL, read as the driver reads it (see {@link parseByocUrl}). */
  async #target(ctx: IsolationContext): Promise<ByocTarget> {
    const name = ctx.byocDatabaseSecret;
    if (!name)
      throw new TenancyError(
        'byoc_not_configured',
        `tenant ${ctx.tenantId} has profile st-byoc but no spec.byoc.databaseSecret`,
      );
    let value: string;
    try {
      value = (await this.secrets.read(ACTOR, ctx.tenantId, name)).value;
    } catch (cause) {
      if ((cause as { status?: number }).status === 404) {
        throw new TenancyError(
          'byoc_secret_missing',
          `tenant secret ${name} is not set: store the tenant database's postgres:// URL with PUT /v1/tenants/${ctx.tenantId}/secrets/${name}`,
          { cause },
        );
      }
      throw cause;
    }
    return parseByocUrl(value.trim(), `tenant secret ${name}`);
  }

  /** The target, with its host resolved and every address judged; returns the address to connect to. */
  async #checked(ctx: IsolationContext): Promise<{ target: ByocTarget; address: string }> {
    const target = await this.#target(ctx);
    const address = await checkedAddress(target.host, this.options, `tenant ${ctx.tenantId}'s database`);
    return { target, address };
  }

  async #client(ctx: IsolationContext): Promise<pg.Client> {
    const { target, address } = await this.#checked(ctx);
    // Every field explicit, the host the address just checked: nothing comes from a connection
    // string (where a ?host= would win), a second DNS answer, or the control plane's own PG*
    // variables and .pgpass (a password function keeps the driver from looking there).
    const client = new pg.Client({
      host: address,
      port: target.port,
      user: target.user,
      password: async () => target.password,
      database: target.database,
      ssl: target.ssl,
      sslnegotiation: 'postgres',
      application_name: target.applicationName ?? 'tenancy',
      connectionTimeoutMillis: 5_000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (cause) {
      const where = `${redactUrl(target.url)} (address ${address})`;
      throw new TenancyError(
        'byoc_database_unreachable',
        `cannot connect to tenant ${ctx.tenantId}'s database at ${where}: ${(cause as Error).message}`,
        { cause },
      );
    }
    try {
      const me = await client.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
        'select rolsuper, rolbypassrls from pg_roles where rolname = current_user',
      );
      if (me.rows[0]?.rolsuper || me.rows[0]?.rolbypassrls) {
        throw new TenancyError(
          'byoc_role_too_powerful',
          `the role in tenant ${ctx.tenantId}'s database URL is a superuser or bypasses row-level security; give the platform a role that owns only the tenant's database`,
        );
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  /** Check the tenant's database is reachable with its credentials; nothing is created. */
  async ensure(ctx: IsolationContext): Promise<void> {
    const client = await this.#client(ctx);
    await client.end().catch(() => undefined);
  }

  async observe(ctx: IsolationContext): Promise<ObservedWarehouse> {
    try {
      await this.ensure(ctx);
      return { exists: true, canLogin: true };
    } catch {
      return { exists: false, canLogin: false };
    }
  }

  /** The tenant's own roles are the tenant's: suspend refuses its credentials here, not its database's logins. */
  async setLogin(): Promise<void> {}

  /** Never drop a database the tenant owns. */
  async remove(): Promise<void> {}

  async removePlace(): Promise<void> {}

  /** The tenant's own database and roles: the platform has nothing to fence there. */
  async fence(): Promise<void> {}

  /** The tenant's own server: measuring it holds nothing of the platform's. */
  samplable(): boolean {
    return true;
  }

  async sizeBytes(ctx: IsolationContext): Promise<number> {
    const rows = await this.withTenant(ctx, (session) =>
      session.query<{ bytes: string }>(
        "select coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::text as bytes from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname = current_schema() and c.relkind in ('r', 'm', 'p')",
      ),
    );
    return Number(rows[0]?.bytes ?? 0);
  }

  async connection(ctx: IsolationContext): Promise<DatabaseConnection> {
    // The URL rebuilt from the checked fields: an app that connects with it goes where the control plane checked.
    const { target } = await this.#checked(ctx);
    return {
      engine: 'postgres',
      url: target.url,
      role: target.user,
      database: target.database,
      schema: 'public',
      isolation: "the tenant's own database (st-byoc)",
    };
  }

  async withTenant<T>(ctx: IsolationContext, fn: (session: TenantSession) => Promise<T>): Promise<T> {
    const client = await this.#client(ctx);
    try {
      return await inPgTransaction(client, [], fn);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async inventory(): Promise<{ schemas: string[]; databases: string[] }> {
    return { schemas: [], databases: [] };
  }

  async close(): Promise<void> {}
}

/** Routes tenants whose strategy hosts their database on their own server (st-byoc) there, everyone else to the platform's warehouse. */
export class RoutingWarehouse implements Warehouse {
  constructor(
    private readonly platform: Warehouse,
    private readonly byoc: Warehouse,
  ) {}

  get engine(): 'postgres' | 'pglite' {
    return this.platform.engine;
  }

  #for(ctx: IsolationContext): Warehouse {
    return databaseLayout(ctx).host === 'tenant' ? this.byoc : this.platform;
  }

  prepare(): Promise<string[]> {
    return this.platform.prepare();
  }
  ensure(ctx: IsolationContext): Promise<void> {
    return this.#for(ctx).ensure(ctx);
  }
  observe(ctx: IsolationContext): Promise<ObservedWarehouse> {
    return this.#for(ctx).observe(ctx);
  }
  setLogin(ctx: IsolationContext, enabled: boolean): Promise<void> {
    return this.#for(ctx).setLogin(ctx, enabled);
  }
  remove(ctx: IsolationContext): Promise<void> {
    return this.#for(ctx).remove(ctx);
  }
  removePlace(ctx: IsolationContext): Promise<void> {
    return this.#for(ctx).removePlace(ctx);
  }
  fence(ctx: IsolationContext): Promise<void> {
    return this.#for(ctx).fence(ctx);
  }
  sizeBytes(ctx: IsolationContext): Promise<number> {
    return this.#for(ctx).sizeBytes(ctx);
  }
  /**
   * The platform's answer too: an embedded platform has never sampled a tenant of the
   * database kind, a brought database included.
   */
  samplable(ctx: IsolationContext): boolean {
    return this.platform.samplable(ctx) && this.#for(ctx).samplable(ctx);
  }
  connection(ctx: IsolationContext): Promise<DatabaseConnection> {
    return this.#for(ctx).connection(ctx);
  }
  withTenant<T>(ctx: IsolationContext, fn: (session: TenantSession) => Promise<T>): Promise<T> {
    return this.#for(ctx).withTenant(ctx, fn);
  }
  inventory(): Promise<{ schemas: string[]; databases: string[] }> {
    return this.platform.inventory();
  }
  async close(): Promise<void> {
    await this.byoc.close();
    await this.platform.close();
  }
}
