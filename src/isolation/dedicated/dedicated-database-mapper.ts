/**
 * Dedicated database isolation on PostgreSQL: database `warehouse_<id>` owned by the
 * tenant's role (no SUPERUSER, BYPASSRLS, CREATEDB, CREATEROLE or REPLICATION; it
 * inherits only the implicit pg_database_owner membership, which gives it its database's
 * `public` schema), with CONNECT revoked from PUBLIC so no other role but the tenant's
 * maintenance role (and the platform) can enter it. Roles carry this installation's mark,
 * and an existing database is used only when the tenant's own (marked) role owns it.
 * Idempotent like every mapper. (The embedded engine gives dedicated tenants a PGlite data
 * dir of their own instead.)
 */
import { sql, type Kysely } from 'kysely';
import { maintenanceIdentifier, tenantIdentifier } from '../identifiers.js';
import { ensureTenantRoles, type RoleIdentity, type RoleRequest } from '../shared/shared-database-mapper.js';
import { dropRole, inRoleTransaction, isOurRole, nameTaken, roleMark, setRoleLogin } from '../tenant-role.js';

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

// biome-ignore lint/suspicious/noExplicitAny: the admin pool reaches catalogs and DDL outside the store's schema
type Admin = Kysely<any>;

/** Databases and roles of dedicated tenants on one PostgreSQL cluster (admin connection). */
export class DedicatedDatabaseMapper {
  constructor(
    private readonly admin: Admin,
    private readonly prefix = '',
  ) {}

  /** Names for a tenant. */
  names(tenantId: string): { role: string; database: string; maintenance: string } {
    const role = tenantIdentifier(tenantId, this.prefix);
    return {
      role,
      database: `${this.prefix}warehouse_${role.slice(this.prefix.length + 2)}`.slice(0, 63),
      maintenance: maintenanceIdentifier(tenantId, this.prefix),
    };
  }

  async #owner(database: string): Promise<string | undefined> {
    const d = await sql<{
      owner: string;
    }>`select pg_catalog.pg_get_userbyid(datdba) as owner from pg_catalog.pg_database where datname = ${database}`.execute(
      this.admin,
    );
    return d.rows[0]?.owner;
  }

  /** Create (or repair) the roles and the database. The role's login is left as it is (setLogin decides). */
  async ensure(tenantId: string, request: RoleRequest): Promise<ObservedDedicatedDatabase> {
    const { role, database, maintenance } = this.names(tenantId);
    // A role that was shared before a profile move loses its old schema as search path.
    await inRoleTransaction(this.admin, (trx) =>
      ensureTenantRoles(trx, { role, maintenance }, request, { inherit: true }),
    );
    const owner = await this.#owner(database);
    if (owner === undefined) {
      try {
        await sql`create database ${sql.id(database)} owner ${sql.id(role)}`.execute(this.admin);
      } catch (error) {
        if ((error as { code?: string }).code !== DUPLICATE_DATABASE) throw error;
        if ((await this.#owner(database)) !== role)
          throw nameTaken('database_name_taken', 'database', database, 'another role owns it');
      }
    } else if (owner !== role) {
      throw nameTaken('database_name_taken', 'database', database, `it is owned by ${owner}`);
    }
    await this.admin.transaction().execute(async (trx) => {
      await sql`revoke all on database ${sql.id(database)} from public`.execute(trx);
      await sql`grant connect, temporary on database ${sql.id(database)} to ${sql.id(role)}`.execute(trx);
      await sql`grant connect on database ${sql.id(database)} to ${sql.id(maintenance)}`.execute(trx);
    });
    return (await this.observe(tenantId))!;
  }

  async observe(tenantId: string): Promise<ObservedDedicatedDatabase | undefined> {
    const { role, database } = this.names(tenantId);
    const r = await sql<{
      rolcanlogin: boolean;
    }>`select rolcanlogin from pg_catalog.pg_roles where rolname = ${role}`.execute(this.admin);
    const owner = await this.#owner(database);
    if (r.rows.length === 0 && owner === undefined) return undefined;
    return {
      role,
      database,
      roleExists: r.rows.length > 0,
      databaseExists: owner !== undefined,
      canLogin: r.rows[0]?.rolcanlogin ?? false,
      ownedByTenant: owner === role,
    };
  }

  async disableLogin(tenantId: string): Promise<void> {
    await setRoleLogin(this.admin, this.names(tenantId).role, false);
  }

  async enableLogin(tenantId: string): Promise<void> {
    await setRoleLogin(this.admin, this.names(tenantId).role, true);
  }

  /** Drop the database only when the tenant's own role owns it (ending its sessions); keep the roles. */
  async removeDatabase(tenantId: string, identity: RoleIdentity): Promise<void> {
    const { role, database } = this.names(tenantId);
    if (!(await isOurRole(this.admin, role, roleMark(identity.owner, 'tenant'), identity.adoptUnmarked))) return;
    if ((await this.#owner(database)) !== role) return;
    await sql`drop database if exists ${sql.id(database)} with (force)`.execute(this.admin);
  }

  /** Drop the database and then both roles: only what carries this installation's mark for this tenant. */
  async remove(tenantId: string, identity: RoleIdentity): Promise<void> {
    const { role, maintenance } = this.names(tenantId);
    await this.removeDatabase(tenantId, identity);
    if (await isOurRole(this.admin, maintenance, roleMark(identity.owner, 'maintenance')))
      await dropRole(this.admin, maintenance);
    if (await isOurRole(this.admin, role, roleMark(identity.owner, 'tenant'), identity.adoptUnmarked))
      await dropRole(this.admin, role);
  }
}
