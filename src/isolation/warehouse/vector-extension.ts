/**
 * pgvector for tenants' corpora. The extension is created by the control plane's privileged
 * connection, never by a tenant, in a schema of its own (`tenancy_vector`) whose only grant
 * is USAGE to PUBLIC: a tenant role can name the `vector` type and its operators there and
 * nothing more (no CREATE, no object of its own beside them). Retrieval finds the extension
 * from the tenant's own session and falls back to an exact ranking in SQL where there is
 * none, so a warehouse without pgvector loses speed, not answers.
 */
import { type Kysely, sql } from 'kysely';

/** The schema pgvector is created in. */
export const VECTOR_SCHEMA = 'tenancy_vector';

/** Creates pgvector where the connection may (PGlite's superuser; idempotent). */
export const CREATE_VECTOR_EXTENSION = `
create schema if not exists ${VECTOR_SCHEMA};
create extension if not exists vector schema ${VECTOR_SCHEMA};
grant usage on schema ${VECTOR_SCHEMA} to public;`;

const SUPERUSER_SQL =
  `CREATE SCHEMA ${VECTOR_SCHEMA}; CREATE EXTENSION vector SCHEMA ${VECTOR_SCHEMA}; ` +
  `GRANT USAGE ON SCHEMA ${VECTOR_SCHEMA} TO PUBLIC;`;

/**
 * On the PostgreSQL warehouse database: create pgvector when the server has it and the admin
 * role may (pgvector is not a trusted extension, so usually only a superuser may); answers
 * warnings saying what a superuser should run when it cannot, or when the extension is
 * installed where tenant roles cannot use it. Without pgvector on the server: nothing to say.
 */
export async function preparePgvector(admin: Kysely<unknown>): Promise<string[]> {
  const installed = await sql<{ schema: string; usable: boolean }>`
    select n.nspname as schema, pg_catalog.has_schema_privilege('public', n.oid, 'USAGE') as usable
      from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
     where e.extname = 'vector'`.execute(admin);
  const found = installed.rows[0];
  if (found)
    return found.usable
      ? []
      : [
          `pgvector is installed in schema ${found.schema} of the warehouse, which tenant roles cannot use; ` +
            `retrieval ranks vectors by the exact SQL fallback until a superuser runs: ` +
            `CREATE SCHEMA IF NOT EXISTS ${VECTOR_SCHEMA}; GRANT USAGE ON SCHEMA ${VECTOR_SCHEMA} TO PUBLIC; ` +
            `ALTER EXTENSION vector SET SCHEMA ${VECTOR_SCHEMA};`,
        ];
  const available = await sql`select 1 from pg_catalog.pg_available_extensions where name = 'vector'`.execute(admin);
  if (available.rows.length === 0) return [];
  try {
    await admin.transaction().execute(async (trx) => {
      await sql`create schema if not exists ${sql.id(VECTOR_SCHEMA)}`.execute(trx);
      await sql`create extension if not exists vector schema ${sql.id(VECTOR_SCHEMA)}`.execute(trx);
      await sql`grant usage on schema ${sql.id(VECTOR_SCHEMA)} to public`.execute(trx);
    });
    return [];
  } catch (error) {
    return [
      `pgvector is available on the warehouse server but the control plane's role cannot create it ` +
        `(${(error as Error).message}); retrieval ranks vectors by the exact SQL fallback until a superuser runs ` +
        `in the warehouse database: ${SUPERUSER_SQL}`,
    ];
  }
}
