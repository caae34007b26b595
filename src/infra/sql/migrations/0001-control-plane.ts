/**
 * First control-plane schema: tenants, their documents, API keys, the audit log with its
 * append-only trigger, checkpoints, the event outbox and idempotency records.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table tenants (
      id text primary key,
      uid uuid not null unique,
      generation integer not null,
      spec jsonb not null,
      labels jsonb not null default '{}'::jsonb,
      plan text not null,
      profile text not null,
      region text not null,
      phase text not null,
      observed_generation integer not null default 0,
      conditions jsonb not null default '[]'::jsonb,
      status_reason text,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      deleted_at timestamptz,
      purge_after timestamptz,
      purged_at timestamptz
    )`.execute(db);
  await sql`create index tenants_phase_idx on tenants (phase, id)`.execute(db);
  await sql`create index tenants_labels_idx on tenants using gin (labels)`.execute(db);
  await sql`create index tenants_unreconciled_idx on tenants (id) where generation <> observed_generation`.execute(db);

  await sql`
    create table tenant_documents (
      tenant_id text not null references tenants(id),
      kind text not null,
      name text not null,
      spec jsonb not null,
      source text,
      updated_at timestamptz not null,
      primary key (tenant_id, kind, name)
    )`.execute(db);

  await sql`
    create table api_keys (
      id text primary key,
      name text not null,
      tenant_id text references tenants(id),
      role text not null,
      secret_hash text not null,
      created_at timestamptz not null,
      created_by text not null,
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz
    )`.execute(db);
  await sql`create index api_keys_tenant_idx on api_keys (tenant_id)`.execute(db);

  await sql`
    create table audit_log (
      seq bigint primary key,
      id uuid not null unique,
      ts timestamptz not null,
      actor text not null,
      action text not null,
      target text not null,
      tenant_id text,
      correlation_id text,
      outcome text not null,
      details jsonb not null,
      prev_hash text not null,
      hash text not null
    )`.execute(db);
  await sql`create index audit_log_tenant_idx on audit_log (tenant_id, seq)`.execute(db);
  await sql`
    create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % is not allowed', tg_op using errcode = 'P0001';
    end $$`.execute(db);
  await sql`
    create trigger audit_log_no_update_delete before update or delete on audit_log
    for each row execute function audit_log_append_only()`.execute(db);
  await sql`
    create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_append_only()`.execute(db);

  await sql`
    create table audit_checkpoints (
      seq bigint primary key,
      hash text not null,
      key_id text not null,
      signature text not null,
      ts timestamptz not null
    )`.execute(db);

  await sql`
    create table outbox (
      seq bigserial primary key,
      id uuid not null unique,
      type text not null,
      tenant_id text,
      correlation_id text,
      payload jsonb not null,
      ts timestamptz not null,
      published_at timestamptz
    )`.execute(db);
  await sql`create index outbox_unpublished_idx on outbox (seq) where published_at is null`.execute(db);

  await sql`
    create table idempotency_keys (
      principal text not null,
      key text not null,
      method text not null,
      path text not null,
      body_hash text not null,
      status_code integer not null,
      response jsonb not null,
      created_at timestamptz not null,
      primary key (principal, key)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'idempotency_keys',
    'outbox',
    'audit_checkpoints',
    'audit_log',
    'api_keys',
    'tenant_documents',
    'tenants',
  ]) {
    await sql`drop table if exists ${sql.table(table)} cascade`.execute(db);
  }
  await sql`drop function if exists audit_log_append_only cascade`.execute(db);
}
