/**
 * Retrieval: each tenant's corpora and their settings. Documents, chunks and the index live
 * in the tenant's own place, not in the store.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table corpora (
      tenant_id text not null,
      name text not null,
      config jsonb not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (tenant_id, name)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists corpora`.execute(db);
}
