/**
 * The control-plane store port: a Kysely instance over PGlite (embedded default) or
 * PostgreSQL, picked from the URL in one place, with the same migrations for both.
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
import * as m0046 from './migrations/0046-installation.js';
import * as m0051 from './migrations/0051-idempotency-encrypted.js';
import { openPglite } from './pglite-engine.js';
import type { Schema } from './schema.js';

/** Which engine serves the store. */
export type SqlEngine = 'pglite' | 'postgres';

/** An open store: the query builder, its engine, and how to close it cleanly. */
export interface Database {
  db: Kysely<Schema>;
  engine: SqlEngine;
  /** What could not be made safe at open (e.g. the store's database left open to PUBLIC), for the log. */
  warnings: string[];
  close(): Promise<void>;
}

/** Where the store lives: a PostgreSQL URL, or a PGlite data dir (undefined = in memory). */
export type DatabaseTarget = { url: string } | { dataDir: string | undefined };

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
  '0046-installation': m0046,
  '0051-idempotency-encrypted': m0051,
};

// int8 and numeric come back as strings from pg; counts and sequence numbers fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

/** Open the store and bring its schema up to date. */
export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  let database: Database;
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
      throw new TenancyError('database_unavailable', 500, `cannot connect to PostgreSQL at ${redactUrl(target.url)}: ${(cause as Error).message}`, { cause });
    }
    const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
    database = { db, engine: 'postgres', warnings: await closeToPublic(db), close: () => db.destroy() };
  } else {
    const embedded = await openPglite(target.dataDir);
    const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: embedded.pool }) });
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
async function closeToPublic(db: Kysely<Schema>): Promise<string[]> {
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
  await sql`revoke connect, temporary on database ${sql.id(before.name)} from public`.execute(db).catch(() => undefined);
  if (!(await state()).open) return [];
  return [`the store database ${before.name} is open to PUBLIC (every role on the cluster may connect) and this role cannot change that; its owner should run: REVOKE CONNECT, TEMPORARY ON DATABASE "${before.name}" FROM PUBLIC;`];
}

/** Apply pending control-plane migrations; safe to run from several processes at once. */
export async function migrate(db: Kysely<Schema>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'tenancy_migrations',
    migrationLockTableName: 'tenancy_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new TenancyError('migration_failed', 500, `control-plane migration ${failed} failed: ${(error as Error).message}`, { cause: error });
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
