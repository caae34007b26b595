/**
 * The warehouse port: where tenants' relational data lives. Two engines: PostgreSQL
 * (`TENANCY_WAREHOUSE_URL`: a schema and login role per shared tenant, a database and role
 * per dedicated tenant) and the embedded default (PGlite: one instance holding a schema and
 * role per shared tenant, a data dir of its own per dedicated tenant). Migrations, archive
 * and restore reach a tenant's data only through {@link Warehouse.withTenant}, which runs as
 * the tenant's own role with its schema as the search path, so the database itself refuses
 * anything outside the tenant's place. On PostgreSQL that session logs in as the tenant
 * (its maintenance role), so nothing the tenant planted runs with more than its rights.
 */
import type { DatabaseConnection } from '../../contract/index.js';
import type { IsolationContext } from '../strategy.js';

/** Where a tenant connects, with its own role (the wire contract's shape). */
export type { DatabaseConnection };

/** A transaction running as the tenant's role in its schema. */
export interface TenantSession {
  /** One statement with parameters. */
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** A script of one or more statements, no parameters (migration files). */
  exec(script: string): Promise<void>;
}

/** The part of a `pg` client a session needs. */
export interface PgQueryable {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * Run `fn` as one transaction on a PostgreSQL connection: `setup` statements first (role,
 * search path), commit when `fn` resolves, roll back when it throws.
 */
export async function inPgTransaction<T>(
  client: PgQueryable,
  setup: string[],
  fn: (session: TenantSession) => Promise<T>,
): Promise<T> {
  await client.query('begin');
  try {
    for (const statement of setup) await client.query(statement);
    const result = await fn({
      query: async <R>(text: string, params: unknown[] = []) => (await client.query(text, params)).rows as R[],
      // No parameters: the simple query protocol, so a script of several statements runs as one.
      exec: async (script: string) => void (await client.query(script)),
    });
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  }
}

/** What exists of a tenant's database. */
export interface ObservedWarehouse {
  exists: boolean;
  canLogin: boolean;
}

/** Tenant databases on one engine. */
export interface Warehouse {
  readonly engine: 'postgres' | 'pglite';
  /** Once at start-up: close shared places to PUBLIC; answers warnings about what it could not close. */
  prepare(): Promise<string[]>;
  /** Create or repair the tenant's role and schema or database (idempotent). */
  ensure(ctx: IsolationContext): Promise<void>;
  observe(ctx: IsolationContext): Promise<ObservedWarehouse>;
  /** Let the tenant's role log in, or stop it and end its sessions. */
  setLogin(ctx: IsolationContext, enabled: boolean): Promise<void>;
  /** Drop everything of the tenant (idempotent). */
  remove(ctx: IsolationContext): Promise<void>;
  /**
   * Drop the tenant's schema or database under `ctx.profile` but keep its role and
   * credentials: a profile move holds both places under one role until the cut-over.
   */
  removePlace(ctx: IsolationContext): Promise<void>;
  /**
   * A move's write fence: the tenant's own sessions end and its role cannot log in until
   * {@link setLogin} lets it back, enforced by role attributes the tenant cannot change.
   */
  fence(ctx: IsolationContext): Promise<void>;
  /** Bytes of the tenant's tables (storage metering), read without running anything of the tenant's with more than its rights. */
  sizeBytes(ctx: IsolationContext): Promise<number>;
  /**
   * Whether background metering may measure the tenant now with {@link sizeBytes}: not where
   * measuring would open a place the controller's work needs (an embedded dedicated
   * instance: few are open at once).
   */
  samplable(ctx: IsolationContext): boolean;
  connection(ctx: IsolationContext): Promise<DatabaseConnection>;
  /** Run `fn` in one transaction as the tenant's role, search path = its schema; commits when `fn` resolves. */
  withTenant<T>(ctx: IsolationContext, fn: (session: TenantSession) => Promise<T>): Promise<T>;
  /** Every tenant place that exists (schema names of shared tenants, database names of dedicated ones): finds orphans. */
  inventory(): Promise<{ schemas: string[]; databases: string[] }>;
  close(): Promise<void>;
}
