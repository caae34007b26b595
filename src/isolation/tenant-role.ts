/**
 * Tenant login roles on PostgreSQL, shared by the database mappers: created without any
 * dangerous attribute, switched off and on for suspend and resume (ending open sessions),
 * and dropped with everything they own in the connected database.
 */
import { sql, type QueryExecutorProvider } from 'kysely';

/** Any Kysely instance or transaction, whatever its schema type. */
type Db = QueryExecutorProvider;

const DUPLICATE_OBJECT = '42710';

/** Whether `role` exists. */
export async function roleExists(db: Db, role: string): Promise<boolean> {
  const r = await sql<{ n: number }>`select count(*)::int as n from pg_roles where rolname = ${role}`.execute(db);
  return r.rows[0]!.n > 0;
}

/**
 * Create or repair a login role with no SUPERUSER, CREATEDB, CREATEROLE, BYPASSRLS or
 * REPLICATION. `inherit` is needed only to use the implicit pg_database_owner membership.
 */
export async function ensureLoginRole(db: Db, role: string, password: string, options: { inherit: boolean }): Promise<void> {
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(password)) throw new Error('role passwords are generated: 16..128 URL-safe characters');
  const attributes = sql.raw(`login nosuperuser nocreatedb nocreaterole ${options.inherit ? 'inherit' : 'noinherit'} nobypassrls noreplication`);
  const k = db;
  try {
    await sql`create role ${sql.id(role)} ${attributes} password ${sql.lit(password)}`.execute(k);
  } catch (error) {
    if ((error as { code?: string }).code !== DUPLICATE_OBJECT) throw error;
  }
  await sql`alter role ${sql.id(role)} ${attributes} password ${sql.lit(password)}`.execute(k);
}

/** Let the role log in, or stop it and end its open sessions. A missing role is a no-op. */
export async function setRoleLogin(db: Db, role: string, enabled: boolean): Promise<void> {
  const k = db;
  if (!(await roleExists(k, role))) return;
  await sql`alter role ${sql.id(role)} ${sql.raw(enabled ? 'login' : 'nologin')}`.execute(k);
  if (!enabled) await sql`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role} and pid <> pg_backend_pid()`.execute(k);
}

/** End the role's sessions, drop what it owns here and its grants, then the role. */
export async function dropRole(db: Db, role: string): Promise<void> {
  const k = db;
  if (!(await roleExists(k, role))) return;
  await sql`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role} and pid <> pg_backend_pid()`.execute(k);
  await sql`drop owned by ${sql.id(role)}`.execute(k);
  await sql`drop role if exists ${sql.id(role)}`.execute(k);
}
