/**
 * Archives of tenants in cold storage: where each one is, whether it is complete, and
 * whether it was restored. The manifest (row counts and checksums) is kept here too.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table tenant_archives (
      tenant_id text not null references tenants(id),
      id text not null,
      state text not null check (state in ('exporting', 'complete', 'restored')),
      location text not null,
      job_id text references jobs(id),
      manifest jsonb,
      created_at timestamptz not null,
      completed_at timestamptz,
      restored_at timestamptz,
      primary key (tenant_id, id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists tenant_archives`.execute(db);
}
