/**
 * What the controller last carried out on a tenant's resources: the phase and generation its
 * resource steps ran for. A reconcile finding them equal to the tenant's, with nothing else
 * due, has nothing to do and ends after one read.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants add column resources_phase text`.execute(db);
  await sql`alter table tenants add column resources_generation bigint`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants drop column if exists resources_generation`.execute(db);
  await sql`alter table tenants drop column if exists resources_phase`.execute(db);
}
