/**
 * Paused consumers: a suspended tenant's consumer delivers nothing; its messages stay.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table queue_consumers add column paused boolean not null default false`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table queue_consumers drop column if exists paused`.execute(db);
}
