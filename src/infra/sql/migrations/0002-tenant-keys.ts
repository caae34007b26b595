/**
 * Per-tenant key rings and secrets: wrapped key-encryption-key versions, the root-key
 * check value, and versioned encrypted secrets.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table key_ring_meta (
      id text primary key,
      root_key_id text not null,
      check_value text not null,
      updated_at timestamptz not null
    )`.execute(db);
  await sql`
    create table tenant_keys (
      tenant_id text not null references tenants(id),
      version integer not null,
      root_key_id text not null,
      wrapped_key text,
      state text not null,
      created_at timestamptz not null,
      retired_at timestamptz,
      destroyed_at timestamptz,
      primary key (tenant_id, version)
    )`.execute(db);
  await sql`
    create table tenant_secrets (
      tenant_id text not null references tenants(id),
      name text not null,
      version integer not null,
      ciphertext text not null,
      key_version integer not null,
      rotation_period_days integer,
      rotation_notified_at timestamptz,
      created_at timestamptz not null,
      created_by text not null,
      primary key (tenant_id, name, version)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists tenant_secrets`.execute(db);
  await sql`drop table if exists tenant_keys`.execute(db);
  await sql`drop table if exists key_ring_meta`.execute(db);
}
