/**
 * Events and webhooks: the relay's lease (one publisher at a time across replicas), the
 * platform key that seals platform-wide secrets, webhook endpoints, their deliveries
 * (pending work survives restarts) and the log of every delivery attempt.
 *
 * Tenant-owned rows carry `tenant_id references tenants(id)` like every other tenant
 * table; a null tenant means platform-wide.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Replay by tenant reads the outbox in seq order per tenant.
  await sql`create index outbox_tenant_seq_idx on outbox (tenant_id, seq)`.execute(db);

  await sql`
    create table event_relay_lease (
      name text primary key,
      holder text not null,
      lease_until timestamptz not null
    )`.execute(db);

  await sql`
    create table platform_keys (
      version integer primary key,
      root_key_id text not null,
      wrapped_key text not null,
      created_at timestamptz not null
    )`.execute(db);

  await sql`
    create table webhooks (
      id text primary key,
      tenant_id text references tenants(id),
      url text not null,
      event_types jsonb not null,
      enabled boolean not null,
      description text,
      disabled_reason text,
      secret_ciphertext text not null,
      previous_secret_ciphertext text,
      previous_secret_expires_at timestamptz,
      secret_rotated_at timestamptz,
      created_at timestamptz not null,
      created_by text not null,
      updated_at timestamptz not null
    )`.execute(db);
  await sql`create index webhooks_tenant_idx on webhooks (tenant_id, id)`.execute(db);

  await sql`
    create table webhook_deliveries (
      id text primary key,
      webhook_id text not null references webhooks(id) on delete cascade,
      tenant_id text references tenants(id),
      event_id uuid not null,
      event_seq bigint not null,
      event_type text not null,
      body text not null,
      status text not null check (status in ('pending', 'succeeded', 'failed', 'dead')),
      attempts integer not null default 0,
      next_attempt_at timestamptz,
      claim_token text,
      last_status_code integer,
      last_error text,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      unique (webhook_id, event_id)
    )`.execute(db);
  await sql`create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'pending'`.execute(
    db,
  );
  await sql`create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, id)`.execute(db);

  await sql`
    create table webhook_attempts (
      delivery_id text not null references webhook_deliveries(id) on delete cascade,
      attempt integer not null,
      started_at timestamptz not null,
      duration_ms integer not null,
      status_code integer,
      error text,
      outcome text not null,
      next_retry_at timestamptz,
      primary key (delivery_id, attempt)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['webhook_attempts', 'webhook_deliveries', 'webhooks', 'platform_keys', 'event_relay_lease'])
    await sql`drop table if exists ${sql.table(t)}`.execute(db);
  await sql`drop index if exists outbox_tenant_seq_idx`.execute(db);
}
