/**
 * Tenant roles on PostgreSQL, shared by the database mappers. Role names are global to a
 * cluster, so a role is created together with an ownership mark (a role comment only a
 * CREATEROLE holder can write) and a role found already existing is used only when it
 * carries this installation's mark: never adopted by name. Passwords go over as SCRAM
 * verifiers computed here, in statements that cannot fail on "already exists", so no
 * plaintext ever reaches the server or its log.
 */
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes } from 'node:crypto';
import { sql, type Kysely, type QueryExecutorProvider } from 'kysely';
import { TenancyError } from '../errors.js';

/** Any Kysely instance or transaction, whatever its schema type. */
type Db = QueryExecutorProvider;

/** A Kysely instance (not a transaction): role and mark are made in one transaction of their own. */
// biome-ignore lint/suspicious/noExplicitAny: the admin pool reaches catalogs and DDL outside the store's schema
type TransactionalDb = Kysely<any>;

/** Who a tenant role belongs to: this installation, and the tenant it was made for. */
export interface RoleOwner {
  installationId: string;
  tenantId: string;
  /** The tenant's immutable uid: a later tenant of the same id never inherits a leftover role. */
  tenantUid: string;
}

/** The comment that marks a role as made by this installation for this tenant. */
export function roleMark(owner: RoleOwner, kind: 'tenant' | 'maintenance'): string {
  return `tenancy/v1 installation=${owner.installationId} tenant=${owner.tenantId} uid=${owner.tenantUid} role=${kind}`;
}

const SCRAM_ITERATIONS = 4096;

/**
 * A SCRAM-SHA-256 verifier for `password` (RFC 5802, RFC 7677), in the form PostgreSQL
 * stores: `CREATE/ALTER ROLE … PASSWORD '<verifier>'` stores it as is, so the plaintext is
 * never sent. Passwords here are generated ASCII, for which SASLprep is the identity.
 */
export function scramVerifier(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations = SCRAM_ITERATIONS,
  derived?: Buffer,
): string {
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error('SCRAM verifiers are made for printable ASCII passwords only');
  const salted = derived ?? pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** {@link scramVerifier} without holding the event loop for the key derivation. */
export async function scramVerifierAsync(password: string): Promise<string> {
  const salt = randomBytes(16);
  const salted = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(password, salt, SCRAM_ITERATIONS, 32, 'sha256', (error, key) => (error ? reject(error) : resolve(key))),
  );
  return scramVerifier(password, salt, SCRAM_ITERATIONS, salted);
}

/** Whether `role` exists. */
export async function roleExists(db: Db, role: string): Promise<boolean> {
  const r = await sql<{
    n: number;
  }>`select count(*)::int as n from pg_catalog.pg_roles where rolname = ${role}`.execute(db);
  return r.rows[0]!.n > 0;
}

/** The comment on `role` and whether it holds an attribute no tenant role may have; undefined when there is no such role. */
async function roleComment(db: Db, role: string): Promise<{ comment: string | null; superuser: boolean } | undefined> {
  const r = await sql<{ comment: string | null; superuser: boolean }>`
    select pg_catalog.shobj_description(oid, 'pg_authid') as comment, (rolsuper or rolreplication or rolbypassrls) as superuser
      from pg_catalog.pg_roles where rolname = ${role}`.execute(db);
  return r.rows[0];
}

/** The error for a name another installation (or anyone else) already holds. */
export function nameTaken(
  code: 'role_name_taken' | 'database_name_taken' | 'schema_name_taken',
  kind: string,
  name: string,
  why: string,
): TenancyError {
  return new TenancyError(
    code,
    `${code}: ${kind} "${name}" already exists and was not made by this installation for this tenant (${why}); it is left unchanged. ` +
      'Drop or rename it, or give this installation another TENANCY_WAREHOUSE_ROLE_PREFIX.',
  );
}

/** Attributes of every role made here: nothing dangerous, whatever the role is for. */
function attributes(inherit: boolean): ReturnType<typeof sql.raw> {
  return sql.raw(`nosuperuser nocreatedb nocreaterole ${inherit ? 'inherit' : 'noinherit'} nobypassrls noreplication`);
}

/**
 * Create the role with its mark, or check that the existing one carries exactly this mark.
 * Run it in a transaction (with whatever else makes the tenant's place), so a role never
 * exists unmarked because of us. Refuses, changing nothing, a role that is unmarked, marked
 * by someone else, or a superuser. `adoptUnmarked` lets a role of an installation older
 * than the marks be marked once. Another process creating the role at the same moment
 * fails the transaction with 42710 (duplicate object): run it again.
 */
export async function ensureMarkedRole(
  db: Db,
  role: string,
  mark: string,
  options: { inherit: boolean; adoptUnmarked?: boolean },
): Promise<'created' | 'existing'> {
  const found = await roleComment(db, role);
  if (!found) {
    await sql`create role ${sql.id(role)} nologin ${attributes(options.inherit)}`.execute(db);
    await sql`comment on role ${sql.id(role)} is ${sql.lit(mark)}`.execute(db);
    return 'created';
  }
  if (found.superuser)
    throw nameTaken(
      'role_name_taken',
      'role',
      role,
      'it is a superuser, or may replicate or bypass row-level security',
    );
  if (found.comment !== mark) {
    if (!(options.adoptUnmarked && found.comment === null)) {
      throw nameTaken(
        'role_name_taken',
        'role',
        role,
        found.comment === null
          ? 'it carries no ownership mark'
          : 'its ownership mark names another installation or tenant',
      );
    }
    await sql`comment on role ${sql.id(role)} is ${sql.lit(mark)}`.execute(db);
  }
  // Repair what a CREATEROLE holder may (an operator may have changed it by hand); LOGIN is left as it is.
  // SUPERUSER, REPLICATION and BYPASSRLS only a superuser can change: a role holding one was refused above.
  await sql`alter role ${sql.id(role)} ${sql.raw(`nocreatedb nocreaterole ${options.inherit ? 'inherit' : 'noinherit'}`)}`.execute(
    db,
  );
  return 'existing';
}

/** Run `fn` in a transaction of its own, once more if another process made the same role meanwhile. */
export async function inRoleTransaction<T>(db: TransactionalDb, fn: (trx: Db) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (error) {
      if ((error as { code?: string }).code !== '42710' || attempt >= 3) throw error;
    }
  }
}

/** Set the role's password from a SCRAM verifier (the role must exist: the statement cannot fail on a duplicate). */
export async function setRolePassword(
  db: Db,
  role: string,
  password: string,
  options: { login?: boolean } = {},
): Promise<void> {
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(password))
    throw new Error('role passwords are generated: 16..128 URL-safe characters');
  const login = options.login === undefined ? sql`` : sql.raw(options.login ? ' login' : ' nologin');
  await sql`alter role ${sql.id(role)}${login} password ${sql.lit(await scramVerifierAsync(password))}`.execute(db);
}

/** End every session the role has open (its own logins, not the platform's maintenance sessions). */
export async function endSessions(db: Db, role: string): Promise<void> {
  await sql`select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity where usename = ${role} and pid <> pg_catalog.pg_backend_pid()`.execute(
    db,
  );
}

/** Let the role log in, or stop it and end its open sessions. A missing role is a no-op. */
export async function setRoleLogin(db: Db, role: string, enabled: boolean): Promise<void> {
  if (!(await roleExists(db, role))) return;
  await sql`alter role ${sql.id(role)} ${sql.raw(enabled ? 'login' : 'nologin')}`.execute(db);
  if (!enabled) await endSessions(db, role);
}

/**
 * Whether `role` is this installation's for this tenant (or unmarked, when `adoptUnmarked`):
 * the only roles a purge may drop. Missing roles are "not ours" too.
 */
export async function isOurRole(db: Db, role: string, mark: string, adoptUnmarked = false): Promise<boolean> {
  const found = await roleComment(db, role);
  return (
    found !== undefined && !found.superuser && (found.comment === mark || (adoptUnmarked && found.comment === null))
  );
}

/** End the role's sessions, drop what it owns in the connected database and its grants, then the role. */
export async function dropRole(db: Db, role: string): Promise<void> {
  if (!(await roleExists(db, role))) return;
  await endSessions(db, role);
  await sql`drop owned by ${sql.id(role)}`.execute(db);
  await sql`drop role if exists ${sql.id(role)}`.execute(db);
}
