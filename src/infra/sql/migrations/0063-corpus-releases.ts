/**
 * Retrieval: quarantined documents released by an approval (`retrievalRelease`), by id and
 * content hash, so a changed document is judged again.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table corpus_releases (
      tenant_id text not null,
      corpus text not null,
      document_id text not null,
      content_sha256 text not null,
      approval_id text not null,
      released_by text not null,
      released_at timestamptz not null default now(),
      primary key (tenant_id, corpus, document_id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists corpus_releases`.execute(db);
}
