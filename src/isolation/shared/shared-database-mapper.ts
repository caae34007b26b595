/**
 * Shared database isolation: schema `t_<id>` in the shared warehouse, owned by a login role
 * `t_<id>` that is not superuser and has no BYPASSRLS, CREATEDB or CREATEROLE. The role
 * may connect to the warehouse and use its own schema only; `public` is closed to it.
 * Every step is idempotent: "already there" and "already gone" are success.
 */
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../../infra/sql/index.js';
import { tenantIdentifier } from '../identifiers.js';
import { dropRole, ensureLoginRole, setRoleLogin } from '../tenant-role.js';

/** What exists for a tenant in the warehouse. */
export interface ObservedDatabase {
  role: string;
  schema: string;
  roleExists: boolean;
  schemaExists: boolean;
  canLogin: boolean;
  ownedByTenant: boolean;
}

type Warehouse = Kysely<Schema> | Kysely<unknown>;

/** Schemas and roles of tenants in one shared warehouse database. */
export class SharedDatabaseMapper {
  constructor(
    private readonly warehouse: Warehouse,
    private readonly databaseName: string,
    private readonly prefix = '',
  ) {}

  /** Names for a tenant. */
  names(tenantId: string): { role: string; schema: string } {
    const name = tenantIdentifier(tenantId, this.prefix);
    return { role: name, schema: name };
  }

  /** Close the warehouse's `public` schema and the database itself to PUBLIC (once per warehouse). */
  async prepareWarehouse(): Promise<void> {
    await sql`revoke all on schema public from public`.execute(this.warehouse);
    await sql`revoke all on database ${sql.id(this.databaseName)} from public`.execute(this.warehouse);
  }

  /** Create (or repair) the tenant's role and schema; sets the password when given. */
  async ensure(tenantId: string, password: string): Promise<ObservedDatabase> {
    const { role, schema } = this.names(tenantId);
    await ensureLoginRole(this.warehouse, role, password, { inherit: false });
    await sql`alter role ${sql.id(role)} set search_path = ${sql.id(schema)}`.execute(this.warehouse);
    await sql`create schema if not exists ${sql.id(schema)} authorization ${sql.id(role)}`.execute(this.warehouse);
    await sql`alter schema ${sql.id(schema)} owner to ${sql.id(role)}`.execute(this.warehouse);
    await sql`grant connect on database ${sql.id(this.databaseName)} to ${sql.id(role)}`.execute(this.warehouse);
    return (await this.observe(tenantId))!;
  }

  /** What exists now, or undefined when nothing of the tenant does. */
  async observe(tenantId: string): Promise<ObservedDatabase | undefined> {
    const { role, schema } = this.names(tenantId);
    const r = await sql<{ rolcanlogin: boolean }>`select rolcanlogin from pg_roles where rolname = ${role}`.execute(this.warehouse);
    const s = await sql<{ owner: string }>`select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = ${schema}`.execute(this.warehouse);
    if (r.rows.length === 0 && s.rows.length === 0) return undefined;
    return { role, schema, roleExists: r.rows.length > 0, schemaExists: s.rows.length > 0, canLogin: r.rows[0]?.rolcanlogin ?? false, ownedByTenant: s.rows[0]?.owner === role };
  }

  /** Stop the role from logging in and end its open sessions (suspend). */
  async disableLogin(tenantId: string): Promise<void> {
    await setRoleLogin(this.warehouse, this.names(tenantId).role, false);
  }

  /** Let the role log in again (resume). */
  async enableLogin(tenantId: string): Promise<void> {
    await setRoleLogin(this.warehouse, this.names(tenantId).role, true);
  }

  /** Drop the schema with everything in it, then the role. */
  async remove(tenantId: string): Promise<void> {
    const { role, schema } = this.names(tenantId);
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(this.warehouse);
    await dropRole(this.warehouse, role);
  }
}
