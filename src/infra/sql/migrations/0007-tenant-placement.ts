/**
 * Where a tenant's resources actually are (`placed_profile`), apart from where its spec
 * wants them (`profile`): they differ while a profile change moves the tenant, and
 * `moving_to` marks a move in progress (so a crash mid-copy can clean up the half-made
 * place), and `moving_from` remembers the old place until it is removed after the cut-over.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants add column placed_profile text`.execute(db);
  await sql`alter table tenants add column moving_from text`.execute(db);
  await sql`alter table tenants add column moving_to text`.execute(db);
  await sql`update tenants set placed_profile = profile where phase <> 'provisioning'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants drop column if exists moving_to`.execute(db);
  await sql`alter table tenants drop column if exists moving_from`.execute(db);
  await sql`alter table tenants drop column if exists placed_profile`.execute(db);
}
