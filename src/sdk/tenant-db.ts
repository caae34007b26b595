/**
 * Tenant-scoped database access on PostgreSQL.
 *
 * - `TenantDatabases` keeps one `pg` pool per tenant, built from the tenant's connection
 *   descriptor (its own role, search path = its schema), at most `maxPools` of them: the
 *   least recently used pool is closed when another is needed.
 * - `withTenantTransaction` runs every transaction with `app.tenant_id` set by
 *   `set_config(..., true)`: transaction-local, so a pooled connection carries nothing to
 *   the next request, and safe under transaction pooling.
 * - `enableTenantRls` puts a shared table behind row-level security keyed on that setting,
 *   forced also for the table's owner, so a query that forgets its WHERE sees one tenant.
 */
import type { Pool, PoolClient, PoolConfig, QueryResult, QueryResultRow } from 'pg';
import { TenancyError } from '../errors.js';
import { currentScope } from './request-context.js';
import type { TenancyClient } from './tenancy-client.js';
import type { ConnectionDescriptor, TenantDb } from './types.js';

export type { TenantDb } from './types.js';

/** Anything that runs a query: a `pg` Pool, PoolClient or Client. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** What can hand out a client for one transaction (a `pg` Pool). */
export interface ClientSource {
  connect(): Promise<PoolClient>;
}

/** Quote an SQL identifier; `schema.table` is quoted part by part. */
export function quoteIdentifier(name: string): string {
  const parts = name.split('.');
  if (parts.length > 2 || parts.some((p) => p.length === 0 || p.length > 63 || p.includes('\0'))) {
    throw new TenancyError('invalid_identifier', `"${name.slice(0, 80)}" is not a valid table name`);
  }
  return parts.map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
}

/**
 * Run `fn` in one transaction with `app.tenant_id` = `tenantId`. Commits when `fn`
 * resolves, rolls back when it throws; the setting ends with the transaction either way.
 */
export async function withTenantTransaction<T>(
  source: ClientSource,
  tenantId: string,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await source.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    await client.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch((rollbackError: Error) => {
      // A connection that cannot roll back must not go back to the pool.
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Options for {@link enableTenantRls}. */
export interface RlsOptions {
  /** The column holding the tenant id (default `tenant_id`). */
  column?: string;
  /** The policy's name (default `tenant_isolation`). */
  policy?: string;
}

/**
 * Put a shared table behind row-level security: ENABLE and FORCE (so the owner is held
 * too), and one policy for every command, reading `app.tenant_id` with `nullif(..., '')`
 * so a connection with no tenant set sees and writes nothing. Idempotent. Superusers and
 * roles with BYPASSRLS still bypass it: apps must connect as an ordinary role.
 */
export async function enableTenantRls(db: Queryable, table: string, options: RlsOptions = {}): Promise<void> {
  const t = quoteIdentifier(table);
  const column = quoteIdentifier(options.column ?? 'tenant_id');
  const policy = quoteIdentifier(options.policy ?? 'tenant_isolation');
  const predicate = `${column} = nullif(current_setting('app.tenant_id', true), '')`;
  await db.query(`alter table ${t} enable row level security`);
  await db.query(`alter table ${t} force row level security`);
  await db.query(`drop policy if exists ${policy} on ${t}`);
  await db.query(`create policy ${policy} on ${t} for all using (${predicate}) with check (${predicate})`);
}

/** The current request's tenant database (its own role and schema, pooled). */
export function tenantDb(): TenantDb {
  const scope = currentScope();
  if (!scope)
    throw new TenancyError(
      'no_tenant_context',
      'tenantDb() was called outside a request admitted by the Tenancy middleware',
    );
  return scope.databases.forTenant(scope.tenant.id);
}

/** Options for {@link TenantDatabases}. */
export interface TenantDatabasesOptions {
  /** Pools kept open at once (default 50); each holds up to `poolSize` connections. */
  maxPools?: number;
  /** Connections per tenant pool (default 5). */
  poolSize?: number;
  /** Idle connections close after this (default 30 s). */
  idleTimeoutMs?: number;
}

/** Per-tenant pools with an LRU bound. */
export class TenantDatabases {
  readonly #pools = new Map<string, Promise<Pool>>();
  readonly #maxPools: number;
  readonly #poolSize: number;
  readonly #idleTimeoutMs: number;

  constructor(
    private readonly client: TenancyClient,
    options: TenantDatabasesOptions = {},
  ) {
    this.#maxPools = options.maxPools ?? 50;
    this.#poolSize = options.poolSize ?? 5;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  }

  /** The handle for `tenantId`. */
  forTenant(tenantId: string): TenantDb {
    const source: ClientSource = { connect: async () => (await this.pool(tenantId)).connect() };
    return {
      tenantId,
      query: async <R extends QueryResultRow>(text: string, params?: unknown[]) =>
        withTenantTransaction(source, tenantId, async (c) => (await c.query<R>(text, params)).rows),
      transaction: (fn) => withTenantTransaction(source, tenantId, fn),
    };
  }

  /** The tenant's pool, opened from its connection descriptor when first needed. */
  pool(tenantId: string): Promise<Pool> {
    const hit = this.#pools.get(tenantId);
    if (hit) {
      this.#pools.delete(tenantId);
      this.#pools.set(tenantId, hit);
      return hit;
    }
    const opening = this.#open(tenantId);
    opening.catch(() => {
      if (this.#pools.get(tenantId) === opening) this.#pools.delete(tenantId);
    });
    this.#pools.set(tenantId, opening);
    while (this.#pools.size > this.#maxPools) {
      const oldest = this.#pools.keys().next().value!;
      void this.evict(oldest);
    }
    return opening;
  }

  /** Open pools (for tests and metrics). */
  get size(): number {
    return this.#pools.size;
  }

  /** Close a tenant's pool (its lifecycle changed, or the LRU bound needs the room). */
  async evict(tenantId: string): Promise<void> {
    const pool = this.#pools.get(tenantId);
    if (!pool) return;
    this.#pools.delete(tenantId);
    await pool.then((p) => p.end()).catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.keys()].map((id) => this.evict(id)));
  }

  async #open(tenantId: string): Promise<Pool> {
    const descriptor: ConnectionDescriptor = await this.client.connection(tenantId);
    const url = descriptor.database.url;
    if (url === null) {
      throw new TenancyError(
        'tenant_database_unavailable',
        'the tenant database has no network endpoint (embedded warehouse); configure TENANCY_WAREHOUSE_URL',
      );
    }
    const { default: pg } = await import('pg');
    const config: PoolConfig = {
      connectionString: url,
      max: this.#poolSize,
      idleTimeoutMillis: this.#idleTimeoutMs,
      // Unqualified names resolve in the tenant's schema, as they do for its migrations.
      options: `-c search_path=${quoteIdentifier(descriptor.database.schema)}`,
    };
    const pool = new pg.Pool(config);
    // A connection ended by the server (the tenant was suspended) must not crash the app.
    pool.on('error', () => undefined);
    return pool;
  }
}
