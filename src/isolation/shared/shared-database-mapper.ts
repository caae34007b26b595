/**
 * Shared database isolation: schema `t_<id>` in the shared warehouse, owned by a role
 * `t_<id>` that is not superuser and has no BYPASSRLS, CREATEDB or CREATEROLE. The role
 * may connect to the warehouse and use its own schema only; `public` is closed to it.
 * Beside it, a maintenance role `m_<id>` (no login but for the moment the control plane
 * opens a session, no rights of its own) may switch to the tenant's role: the control
 * plane works on the tenant's data as the tenant, never from a privileged session.
 * Roles and schema are made with this installation's mark and never adopted by name.
 * Every step is idempotent: "already there" and "already gone" are success.
 */
import { sql, type Kysely, type QueryExecutorProvider } from 'kysely';
import { maintenanceIdentifier, tenantIdentifier } from '../identifiers.js';
import {
  dropRole,
  ensureMarkedRole,
  inRoleTransaction,
  isOurRole,
  nameTaken,
  roleMark,
  setRoleLogin,
  setRolePassword,
  type RoleOwner,
} from '../tenant-role.js';

/** What exists for a tenant in the warehouse. */
export interface ObservedDatabase {
  role: string;
  schema: string;
  roleExists: boolean;
  schemaExists: boolean;
  canLogin: boolean;
  ownedByTenant: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: the admin pool reaches catalogs and DDL outside the store's schema
type Admin = Kysely<any>;

/** Whose roles these are, and whether an unmarked legacy role may be taken as the tenant's. */
export interface RoleIdentity {
  owner: RoleOwner;
  /** The tenant was provisioned before roles carried marks: its unmarked role is its own. */
  adoptUnmarked?: boolean;
}

/** What making the roles needs: who owns them and the tenant role's password. */
export interface RoleRequest extends RoleIdentity {
  password: string;
}

/**
 * Make the tenant's role and its maintenance role (marked), and give the control plane
 * membership where it needs it. Run inside a transaction ({@link inRoleTransaction}).
 */
export async function ensureTenantRoles(
  admin: QueryExecutorProvider,
  names: { role: string; maintenance: string },
  request: RoleRequest,
  options: { inherit: boolean; searchPath?: string },
): Promise<void> {
  const { role, maintenance } = names;
  await ensureMarkedRole(admin, role, roleMark(request.owner, 'tenant'), {
    inherit: options.inherit,
    ...(request.adoptUnmarked ? { adoptUnmarked: true } : {}),
  });
  await ensureMarkedRole(admin, maintenance, roleMark(request.owner, 'maintenance'), { inherit: false });
  await sql`grant ${sql.id(role)} to ${sql.id(maintenance)}`.execute(admin);
  // A control plane without superuser acts on the tenant's database and sessions through membership.
  const me = await sql<{
    rolsuper: boolean;
  }>`select rolsuper from pg_catalog.pg_roles where rolname = current_user`.execute(admin);
  if (!me.rows[0]?.rolsuper) {
    await sql`grant ${sql.id(role)} to current_user`.execute(admin);
    await sql`grant ${sql.id(maintenance)} to current_user`.execute(admin);
  }
  await setRolePassword(admin, role, request.password);
  if (options.searchPath)
    await sql`alter role ${sql.id(role)} set search_path = ${sql.id(options.searchPath)}`.execute(admin);
  else await sql`alter role ${sql.id(role)} reset search_path`.execute(admin);
}

/** Schemas and roles of tenants in one shared warehouse database. */
export class SharedDatabaseMapper {
  constructor(
    private readonly warehouse: Admin,
    private readonly databaseName: string,
    private readonly prefix = '',
  ) {}

  /** Names for a tenant. */
  names(tenantId: string): { role: string; schema: string; maintenance: string } {
    const name = tenantIdentifier(tenantId, this.prefix);
    return { role: name, schema: name, maintenance: maintenanceIdentifier(tenantId, this.prefix) };
  }

  /** Close the warehouse's `public` schema and the database itself to PUBLIC (once per warehouse). */
  async prepareWarehouse(): Promise<void> {
    await sql`revoke all on schema public from public`.execute(this.warehouse);
    await sql`revoke all on database ${sql.id(this.databaseName)} from public`.execute(this.warehouse);
  }

  /** Create (or repair) the tenant's roles and schema. The role's login is left as it is (setLogin decides). */
  async ensure(tenantId: string, request: RoleRequest): Promise<ObservedDatabase> {
    const { role, schema, maintenance } = this.names(tenantId);
    // One transaction: roles, mark, schema and grants appear together, with one commit.
    await inRoleTransaction(this.warehouse, async (trx) => {
      await ensureTenantRoles(trx, { role, maintenance }, request, { inherit: false, searchPath: schema });
      const owner = await sql<{
        owner: string;
      }>`select pg_catalog.pg_get_userbyid(nspowner) as owner from pg_catalog.pg_namespace where nspname = ${schema}`.execute(
        trx,
      );
      if (owner.rows.length === 0) {
        await sql`create schema ${sql.id(schema)} authorization ${sql.id(role)}`.execute(trx);
      } else if (owner.rows[0]!.owner !== role) {
        throw nameTaken('schema_name_taken', 'schema', schema, `it is owned by ${owner.rows[0]!.owner}`);
      }
      await sql`grant connect on database ${sql.id(this.databaseName)} to ${sql.id(role)}, ${sql.id(maintenance)}`.execute(
        trx,
      );
    });
    return (await this.observe(tenantId))!;
  }

  /** What exists now, or undefined when nothing of the tenant does. */
  async observe(tenantId: string): Promise<ObservedDatabase | undefined> {
    const { role, schema } = this.names(tenantId);
    const r = await sql<{
      rolcanlogin: boolean;
    }>`select rolcanlogin from pg_catalog.pg_roles where rolname = ${role}`.execute(this.warehouse);
    const s = await sql<{
      owner: string;
    }>`select pg_catalog.pg_get_userbyid(nspowner) as owner from pg_catalog.pg_namespace where nspname = ${schema}`.execute(
      this.warehouse,
    );
    if (r.rows.length === 0 && s.rows.length === 0) return undefined;
    return {
      role,
      schema,
      roleExists: r.rows.length > 0,
      schemaExists: s.rows.length > 0,
      canLogin: r.rows[0]?.rolcanlogin ?? false,
      ownedByTenant: s.rows[0]?.owner === role,
    };
  }

  /** Stop the role from logging in and end its open sessions (suspend). */
  async disableLogin(tenantId: string): Promise<void> {
    await setRoleLogin(this.warehouse, this.names(tenantId).role, false);
  }

  /** Let the role log in again (resume). */
  async enableLogin(tenantId: string): Promise<void> {
    await setRoleLogin(this.warehouse, this.names(tenantId).role, true);
  }

  /**
   * Drop the schema with everything in it, then both roles: only what carries this
   * installation's mark for this tenant (a name someone else holds is left alone).
   */
  async remove(tenantId: string, identity: RoleIdentity): Promise<void> {
    const { role, maintenance } = this.names(tenantId);
    await this.removeSchema(tenantId, identity);
    if (await isOurRole(this.warehouse, maintenance, roleMark(identity.owner, 'maintenance')))
      await dropRole(this.warehouse, maintenance);
    if (await isOurRole(this.warehouse, role, roleMark(identity.owner, 'tenant'), identity.adoptUnmarked))
      await dropRole(this.warehouse, role);
  }

  /** Drop the schema with everything in it, when the tenant's own (marked) role owns it; the roles stay. */
  async removeSchema(tenantId: string, identity: RoleIdentity): Promise<void> {
    const { role, schema } = this.names(tenantId);
    if (!(await isOurRole(this.warehouse, role, roleMark(identity.owner, 'tenant'), identity.adoptUnmarked))) return;
    const owner = await sql<{
      owner: string;
    }>`select pg_catalog.pg_get_userbyid(nspowner) as owner from pg_catalog.pg_namespace where nspname = ${schema}`.execute(
      this.warehouse,
    );
    if (owner.rows[0]?.owner === role)
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(this.warehouse);
  }
}
