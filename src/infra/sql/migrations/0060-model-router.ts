/**
 * The model router: the model catalogue (platform `ModelProvider` documents), platform
 * secrets (provider API keys, sealed with the platform key), and the budget ledger (spend
 * per tenant and UTC day or month, reservations of calls in flight, notices sent).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table model_providers (
      name text primary key,
      spec jsonb not null,
      generation integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      updated_by text not null
    )`.execute(db);
  await sql`
    create table platform_secrets (
      name text not null,
      version integer not null,
      ciphertext text not null,
      created_at timestamptz not null default now(),
      created_by text not null,
      primary key (name, version)
    )`.execute(db);
  await sql`
    create table ai_budget_windows (
      tenant_id text not null,
      window_key text not null,
      spent_micros bigint not null default 0,
      reserved_micros bigint not null default 0,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, window_key)
    )`.execute(db);
  await sql`
    create table ai_budget_reservations (
      id text primary key,
      tenant_id text not null,
      day_key text not null,
      month_key text not null,
      amount_micros bigint not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index ai_budget_reservations_expiry on ai_budget_reservations (tenant_id, expires_at)`.execute(db);
  await sql`
    create table ai_budget_notices (
      tenant_id text not null,
      window_key text not null,
      kind text not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, window_key, kind)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'ai_budget_notices',
    'ai_budget_reservations',
    'ai_budget_windows',
    'platform_secrets',
    'model_providers',
  ])
    await sql.raw(`drop table if exists ${t}`).execute(db);
}
