/**
 * A tenant's database on PostgreSQL, through its strategy: a schema and role in the shared
 * warehouse, or a database of its own. The role's password is generated once and kept
 * encrypted with the tenant's key ring, so crypto-shredding makes it unreadable too.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Schema } from '../infra/sql/index.js';
import type { KeyRing } from '../keys/index.js';
import { DedicatedDatabaseMapper } from './dedicated/dedicated-database-mapper.js';
import { SharedDatabaseMapper } from './shared/shared-database-mapper.js';
import type { IsolationContext } from './strategy.js';

const KIND = 'database-role';

/** Where a tenant connects, with its own role. */
export interface DatabaseConnection {
  url: string;
  role: string;
  database: string;
  schema: string;
  isolation: 'database-enforced';
}

/** Database resources of tenants on one PostgreSQL cluster. */
export class TenantDatabases {
  readonly shared: SharedDatabaseMapper;
  readonly dedicated: DedicatedDatabaseMapper;
  readonly #warehouseDatabase: string;

  constructor(
    private readonly store: Kysely<Schema>,
    private readonly keyRing: KeyRing,
    admin: Kysely<unknown>,
    private readonly warehouseUrl: string,
    prefix = '',
  ) {
    this.#warehouseDatabase = decodeURIComponent(new URL(warehouseUrl).pathname.slice(1));
    this.shared = new SharedDatabaseMapper(admin, this.#warehouseDatabase, prefix);
    this.dedicated = new DedicatedDatabaseMapper(admin, prefix);
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

  async ensure(ctx: IsolationContext): Promise<void> {
    await this.#mapper(ctx).ensure(ctx.tenantId, await this.#password(ctx.tenantId));
  }

  async setLogin(ctx: IsolationContext, enabled: boolean): Promise<void> {
    const mapper = this.#mapper(ctx);
    await (enabled ? mapper.enableLogin(ctx.tenantId) : mapper.disableLogin(ctx.tenantId));
  }

  async remove(ctx: IsolationContext): Promise<void> {
    await this.#mapper(ctx).remove(ctx.tenantId);
    await this.store.deleteFrom('tenant_credentials').where('tenant_id', '=', ctx.tenantId).where('kind', '=', KIND).execute();
  }

  /** The tenant's connection (decrypts its password). */
  async connection(ctx: IsolationContext): Promise<DatabaseConnection> {
    const password = await this.#password(ctx.tenantId);
    const u = new URL(this.warehouseUrl);
    let database = this.#warehouseDatabase;
    let role: string;
    let schema: string;
    if (ctx.profile === 'mt-standard') ({ role, schema } = this.shared.names(ctx.tenantId));
    else {
      ({ role, database } = this.dedicated.names(ctx.tenantId));
      schema = 'public';
    }
    u.username = role;
    u.password = password;
    u.pathname = `/${database}`;
    return { url: u.toString(), role, database, schema, isolation: 'database-enforced' };
  }
}
