/**
 * Long operations as jobs (state, progress, attempts, last error), and the record of which
 * app migrations each tenant has, per environment.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table jobs (
      id text primary key,
      kind text not null,
      tenant_id text references tenants(id),
      state text not null check (state in ('queued', 'running', 'succeeded', 'failed')),
      progress_done integer not null default 0,
      progress_total integer not null default 0,
      attempts integer not null default 0,
      last_error text,
      params jsonb not null,
      result jsonb,
      created_by text not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      finished_at timestamptz
    )`.execute(db);
  await sql`create index jobs_tenant_idx on jobs (tenant_id, created_at)`.execute(db);
  await sql`create index jobs_unfinished_idx on jobs (state) where state in ('queued', 'running')`.execute(db);
  await sql`
    create table tenant_migrations (
      tenant_id text not null references tenants(id),
      environment text not null,
      version text not null,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null,
      duration_ms integer not null,
      primary key (tenant_id, environment, version)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists tenant_migrations`.execute(db);
  await sql`drop table if exists jobs`.execute(db);
}
