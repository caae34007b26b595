/**
 * Credentials the control plane generates for a tenant's resources (database role
 * passwords), encrypted with the tenant's key ring (purpose `credential`).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table tenant_credentials (
      tenant_id text not null references tenants(id),
      kind text not null,
      ciphertext text not null,
      updated_at timestamptz not null,
      primary key (tenant_id, kind)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists tenant_credentials`.execute(db);
}
