/**
 * The control-plane store port: a Kysely instance over PGlite (embedded default) or
 * PostgreSQL, picked from the URL in one place, with the same migrations for both. On
 * PostgreSQL the schema can belong to a separate owner role that runs the migrations and
 * grants the runtime role only what it needs, so the role that appends audit records
 * cannot disable the triggers that keep them append-only.
 */
import { Kysely, Migrator, PostgresDialect, sql, type Migration, type RawBuilder } from 'kysely';
import pg from 'pg';
import { TenancyError } from '../../errors.js';
import * as m0001 from './migrations/0001-control-plane.js';
import * as m0002 from './migrations/0002-tenant-keys.js';
import * as m0003 from './migrations/0003-queue.js';
import * as m0004 from './migrations/0004-tenant-credentials.js';
import * as m0005 from './migrations/0005-jobs-and-app-migrations.js';
import * as m0006 from './migrations/0006-tenant-archives.js';
import * as m0007 from './migrations/0007-tenant-placement.js';
import * as m0008 from './migrations/0008-queue-consumer-pause.js';
import * as m0010 from './migrations/0010-events-webhooks.js';
import * as m0011 from './migrations/0011-controller-resources-marker.js';
import * as m0020 from './migrations/0020-usage-quotas.js';
import * as m0040 from './migrations/0040-governance-approvals-lineage.js';
import * as m0030 from './migrations/0030-policies.js';
import * as m0045 from './migrations/0045-audit-anchors.js';
import * as m0046 from './migrations/0046-installation.js';
import * as m0051 from './migrations/0051-idempotency-encrypted.js';
import * as m0060 from './migrations/0060-model-router.js';
import * as m0061 from './migrations/0061-ai-budget-functions.js';
import * as m0062 from './migrations/0062-corpora.js';
import * as m0063 from './migrations/0063-corpus-releases.js';
import * as m0064 from './migrations/0064-slo.js';
import { openPglite } from './pglite-engine.js';

/** Which engine serves the store. */
export type SqlEngine = 'pglite' | 'postgres';

/**
 * An open store: the query builder over the tables `DB` names, its engine, and how to close it
 * cleanly. The port knows no table; its caller names the schema it expects.
 */
export interface Database<DB> {
  db: Kysely<DB>;
  engine: SqlEngine;
  /** What could not be made safe at open (e.g. the store's database left open to PUBLIC), for the log. */
  warnings: string[];
  close(): Promise<void>;
}

/**
 * Where the store lives: a PostgreSQL URL (with `ownerUrl`, the same database as a role that
 * owns the schema), or a PGlite data dir (undefined = in memory).
 */
export type DatabaseTarget = { url: string; ownerUrl?: string | undefined } | { dataDir: string | undefined };

/** Tables the runtime role may only read and append to. */
const APPEND_ONLY_TABLES: readonly string[] = ['audit_log', 'audit_checkpoints'];
const MIGRATION_TABLES = ['tenancy_migrations', 'tenancy_migrations_lock'];
const GRANT_LOCK_ID = 7_480_002;

const migrations: Record<string, Migration> = {
  '0001-control-plane': m0001,
  '0002-tenant-keys': m0002,
  '0003-queue': m0003,
  '0004-tenant-credentials': m0004,
  '0005-jobs-and-app-migrations': m0005,
  '0006-tenant-archives': m0006,
  '0007-tenant-placement': m0007,
  '0008-queue-consumer-pause': m0008,
  '0010-events-webhooks': m0010,
  '0011-controller-resources-marker': m0011,
  '0020-usage-quotas': m0020,
  '0040-governance-approvals-lineage': m0040,
  '0030-policies': m0030,
  '0045-audit-anchors': m0045,
  '0046-installation': m0046,
  '0051-idempotency-encrypted': m0051,
  '0060-model-router': m0060,
  '0061-ai-budget-functions': m0061,
  '0062-corpora': m0062,
  '0063-corpus-releases': m0063,
  '0064-slo': m0064,
};

// int8 and numeric come back as strings from pg; counts and sequence numbers fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

/** Open the store and bring its schema up to date. */
export async function openDatabase<DB>(target: DatabaseTarget): Promise<Database<DB>> {
  let database: Database<DB>;
  if ('url' in target) {
    const pool = new pg.Pool({ connectionString: target.url, max: 10 });
    pool.on('error', () => {
      /* idle-client errors surface on the next query */
    });
    try {
      const client = await pool.connect();
      client.release();
    } catch (cause) {
      await pool.end();
      throw new TenancyError(
        'database_unavailable',
        `cannot connect to PostgreSQL at ${redactUrl(target.url)}: ${(cause as Error).message}`,
        { cause },
      );
    }
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    database = { db, engine: 'postgres', warnings: [], close: () => db.destroy() };
    if (target.ownerUrl) {
      try {
        database.warnings = await migrateAsOwner(db, target.ownerUrl);
      } catch (error) {
        await database.close();
        throw error;
      }
      return database;
    }
    database.warnings = await closeToPublic(db);
  } else {
    const embedded = await openPglite(target.dataDir);
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: embedded.pool }) });
    database = {
      db,
      engine: 'pglite',
      warnings: [],
      async close() {
        await db.destroy();
        await embedded.close();
      },
    };
  }
  try {
    await migrate(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}

/**
 * No role but the control plane's may connect to its store: tenant roles live on the same
 * cluster, and what the control plane locks and reads here must be out of their reach.
 * Revoked when this role owns the database; otherwise a warning says what to run.
 */
async function closeToPublic<DB>(db: Kysely<DB>): Promise<string[]> {
  const state = async () =>
    (
      await sql<{ name: string; open: boolean }>`
        select current_database() as name, exists (
          select 1 from pg_catalog.pg_database d, pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
           where d.datname = current_database() and a.grantee = 0 and a.privilege_type = 'CONNECT') as open`.execute(db)
    ).rows[0]!;
  const before = await state();
  if (!before.open) return [];
  // A role that does not own the database gets a warning from PostgreSQL, not an error: look again.
  await sql`revoke connect, temporary on database ${sql.id(before.name)} from public`
    .execute(db)
    .catch(() => undefined);
  if (!(await state()).open) return [];
  return [
    `the store database ${before.name} is open to PUBLIC (every role on the cluster may connect) and this role cannot change that; its owner should run: REVOKE CONNECT, TEMPORARY ON DATABASE "${before.name}" FROM PUBLIC;`,
  ];
}

/** Apply pending control-plane migrations; safe to run from several processes at once. */
export async function migrate<DB>(db: Kysely<DB>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'tenancy_migrations',
    migrationLockTableName: 'tenancy_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new TenancyError(
      'migration_failed',
      `control-plane migration ${failed} failed: ${(error as Error).message}`,
      { status: 500, cause: error },
    );
  }
}

/**
 * Run the migrations as the owner role behind `ownerUrl`, then give the runtime role (the
 * one `runtime` logs in as) exactly what it needs on every table, sequence and function of
 * the schema, whichever migration made it: read and write ordinary tables, only read and
 * append the audit tables, only read the migration bookkeeping, run the (invoker) functions.
 * The owner connection is closed afterwards. Refuses a runtime role that could take the owner's powers anyway.
 */
async function migrateAsOwner<DB>(runtime: Kysely<DB>, ownerUrl: string): Promise<string[]> {
  const who = async (k: Kysely<DB>) =>
    (
      await sql<{
        role: string;
        database: string;
        schema: string;
      }>`select current_user as role, current_database() as database, current_schema() as schema`.execute(k)
    ).rows[0]!;
  const me = await who(runtime);
  const pool = new pg.Pool({ connectionString: ownerUrl, max: 1 });
  pool.on('error', () => {
    /* surfaces on the next query */
  });
  const owner = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  try {
    let them;
    try {
      them = await who(owner);
    } catch (cause) {
      throw new TenancyError(
        'database_unavailable',
        `cannot connect to PostgreSQL as the owner at ${redactUrl(ownerUrl)}: ${(cause as Error).message}`,
        { cause },
      );
    }
    const invalid = (detail: string) => new TenancyError('invalid_config', `invalid configuration: ${detail}`);
    if (them.database !== me.database || them.schema !== me.schema) {
      throw invalid(
        `TENANCY_DATABASE_OWNER_URL must name the same database as TENANCY_DATABASE_URL (got ${them.database}, expected ${me.database})`,
      );
    }
    if (them.role === me.role)
      throw invalid(
        `TENANCY_DATABASE_OWNER_URL must log in as another role than TENANCY_DATABASE_URL (both are ${me.role})`,
      );
    const risky = (
      await sql<{ superuser: boolean; createrole: boolean; member: boolean }>`
        select r.rolsuper as superuser, r.rolcreaterole as createrole, pg_catalog.pg_has_role(r.oid, ${them.role}::text, 'MEMBER') as member
        from pg_catalog.pg_roles r where r.rolname = ${me.role}`.execute(owner)
    ).rows[0];
    if (risky?.superuser || risky?.createrole || risky?.member) {
      const why = risky.superuser
        ? 'is a superuser'
        : risky.createrole
          ? 'has CREATEROLE'
          : `is a member of ${them.role}`;
      throw invalid(
        `the TENANCY_DATABASE_URL role ${me.role} ${why}, so it could undo what the owner role guards; give it LOGIN only`,
      );
    }
    await migrate(owner);
    await owner.transaction().execute(async (trx) => {
      // Concurrent GRANTs on one object fail in PostgreSQL ("tuple concurrently updated"): one replica at a time.
      await sql`select pg_advisory_xact_lock(${GRANT_LOCK_ID})`.execute(trx);
      const objects = (
        await sql<{ name: string; kind: string; owner: string }>`
          select c.relname as name, c.relkind::text as kind, pg_catalog.pg_get_userbyid(c.relowner) as owner
          from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v', 'm', 'S')
          order by c.relname`.execute(trx)
      ).rows;
      const ownedByRuntime = objects.filter((o) => o.owner === me.role).map((o) => o.name);
      if (ownedByRuntime.length > 0) {
        const names = `${ownedByRuntime.slice(0, 5).join(', ')}${ownedByRuntime.length > 5 ? ' and more' : ''}`;
        throw new TenancyError(
          'invalid_config',
          `invalid configuration: ${names} in the store belong to the runtime role ${me.role}; run REASSIGN OWNED BY ${me.role} TO ${them.role} (docs/audit.md)`,
        );
      }
      const role = sql.id(me.role);
      await sql`grant usage on schema ${sql.id(me.schema)} to ${role}`.execute(trx);
      for (const o of objects) {
        if (o.owner !== them.role) continue;
        const name = sql.id(me.schema, o.name);
        if (o.kind === 'S') {
          await sql`revoke all on sequence ${name} from ${role}`.execute(trx);
          await sql`grant usage on sequence ${name} to ${role}`.execute(trx);
          continue;
        }
        const readOnly = MIGRATION_TABLES.includes(o.name) || o.kind === 'v' || o.kind === 'm';
        const rights = APPEND_ONLY_TABLES.includes(o.name)
          ? 'select, insert'
          : readOnly
            ? 'select'
            : 'select, insert, update, delete';
        await sql`revoke all on table ${name} from ${role}`.execute(trx);
        await sql`grant ${sql.raw(rights)} on table ${name} to ${role}`.execute(trx);
      }
      // Functions run as their caller (no security definer), so executing one gives no more
      // than the table rights above; granted explicitly in case PUBLIC's default was revoked.
      const functions = (
        await sql<{ signature: string }>`
          select p.oid::pg_catalog.regprocedure::text as signature
          from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
          where n.nspname = current_schema() and p.prokind = 'f' and not p.prosecdef
            and p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype
            and pg_catalog.pg_get_userbyid(p.proowner) = ${them.role}
          order by 1`.execute(trx)
      ).rows;
      for (const f of functions) await sql`grant execute on function ${sql.raw(f.signature)} to ${role}`.execute(trx);
      // The runtime role connects by its own grant, so the database can be closed to PUBLIC.
      await sql`grant connect on database ${sql.id(me.database)} to ${role}`.execute(trx);
    });
    return await closeToPublic(owner);
  } finally {
    await owner.destroy();
  }
}

/** A JSON value as a `jsonb` parameter (both engines accept the text form). */
export function json(value: unknown): RawBuilder<string> {
  return sql<string>`${JSON.stringify(value)}::jsonb`;
}

/** Hide the password in a connection URL before it reaches a log or an error. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
