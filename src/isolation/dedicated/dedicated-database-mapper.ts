/**
 * Dedicated database isolation on PostgreSQL: database `warehouse_<id>` owned by the
 * tenant's login role (no SUPERUSER, BYPASSRLS, CREATEDB, CREATEROLE or REPLICATION; it
 * inherits only the implicit pg_database_owner membership, which gives it its database's
 * `public` schema), with CONNECT revoked from PUBLIC so no other role but the platform can
 * enter it. Idempotent like every mapper. (The embedded engine gives dedicated tenants a
 * PGlite data dir of their own instead; that engine comes with the warehouse wiring.)
 */
import { sql, type Kysely } from 'kysely';
import { tenantIdentifier } from '../identifiers.js';
import { dropRole, ensureLoginRole, setRoleLogin } from '../tenant-role.js';

/** What exists for a dedicated tenant on the cluster. */
export interface ObservedDedicatedDatabase {
  role: string;
  database: string;
  roleExists: boolean;
  databaseExists: boolean;
  canLogin: boolean;
  ownedByTenant: boolean;
}

const DUPLICATE_DATABASE = '42P04';

/** Databases and roles of dedicated tenants on one PostgreSQL cluster (admin connection). */
export class DedicatedDatabaseMapper {
  constructor(
    private readonly admin: Kysely<unknown>,
    private readonly prefix = '',
  ) {}

  /** Names for a tenant. */
  names(tenantId: string): { role: string; database: string } {
    const role = tenantIdentifier(tenantId, this.prefix);
    return { role, database: `${this.prefix}warehouse_${role.slice(this.prefix.length + 2)}`.slice(0, 63) };
  }

  async ensure(tenantId: string, password: string): Promise<ObservedDedicatedDatabase> {
    const { role, database } = this.names(tenantId);
    await ensureLoginRole(this.admin, role, password, { inherit: true });
    // A role that was shared before a profile move still points at its old schema.
    await sql`alter role ${sql.id(role)} reset search_path`.execute(this.admin);
    try {
      await sql`create database ${sql.id(database)} owner ${sql.id(role)}`.execute(this.admin);
    } catch (error) {
      if ((error as { code?: string }).code !== DUPLICATE_DATABASE) throw error;
    }
    await sql`alter database ${sql.id(database)} owner to ${sql.id(role)}`.execute(this.admin);
    await sql`revoke all on database ${sql.id(database)} from public`.execute(this.admin);
    await sql`grant connect, temporary on database ${sql.id(database)} to ${sql.id(role)}`.execute(this.admin);
    return (await this.observe(tenantId))!;
  }

  async observe(tenantId: string): Promise<ObservedDedicatedDatabase | undefined> {
    const { role, database } = this.names(tenantId);
    const r = await sql<{ rolcanlogin: boolean }>`select rolcanlogin from pg_roles where rolname = ${role}`.execute(this.admin);
    const d = await sql<{ owner: string }>`select pg_get_userbyid(datdba) as owner from pg_database where datname = ${database}`.execute(this.admin);
    if (r.rows.length === 0 && d.rows.length === 0) return undefined;
    return { role, database, roleExists: r.rows.length > 0, databaseExists: d.rows.length > 0, canLogin: r.rows[0]?.rolcanlogin ?? false, ownedByTenant: d.rows[0]?.owner === role };
  }

  async disableLogin(tenantId: string): Promise<void> {
    await setRoleLogin(this.admin, this.names(tenantId).role, false);
  }

  async enableLogin(tenantId: string): Promise<void> {
    await setRoleLogin(this.admin, this.names(tenantId).role, true);
  }

  /** Drop the database (ending its sessions) and then the role. */
  async remove(tenantId: string): Promise<void> {
    const { role, database } = this.names(tenantId);
    await sql`drop database if exists ${sql.id(database)} with (force)`.execute(this.admin);
    await dropRole(this.admin, role);
  }
}
