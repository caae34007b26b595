/**
 * Governance: approval requests (a change a tenant's governance marks as needing approval
 * is stored here instead of applied, with the tenant generations it was based on) and
 * lineage records (which source, query and chunk an answer came from, with its trust
 * score), both tenant-owned with `tenant_id references tenants(id)`.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table approvals (
      id text primary key,
      tenant_id text not null references tenants(id),
      kind text not null,
      kinds jsonb not null,
      applier text not null,
      status text not null check (status in ('pending', 'approved', 'rejected', 'stale')),
      summary text not null,
      payload jsonb not null,
      base jsonb not null,
      requested_by text not null,
      requested_role text,
      requested_at timestamptz not null,
      correlation_id text,
      decided_by text,
      decided_role text,
      decided_at timestamptz,
      decision_reason text,
      result jsonb,
      approver_roles jsonb not null,
      notify jsonb not null,
      notified_status text,
      notify_attempts integer not null default 0,
      notify_after timestamptz,
      notify_error text
    )`.execute(db);
  await sql`create index approvals_tenant_idx on approvals (tenant_id, id)`.execute(db);
  await sql`create index approvals_pending_idx on approvals (status, id) where status = 'pending'`.execute(db);
  await sql`create index approvals_notify_idx on approvals (notify_after) where notified_status is distinct from status`.execute(
    db,
  );

  await sql`
    create table lineage_records (
      id uuid primary key,
      tenant_id text not null references tenants(id),
      domain text not null,
      usecase text not null,
      source_id text not null,
      query_id text not null,
      chunk_id text,
      trust_score double precision not null check (trust_score >= 0 and trust_score <= 1),
      agent_id text,
      policy_version text,
      ts timestamptz not null,
      recorded_at timestamptz not null,
      recorded_by text not null
    )`.execute(db);
  await sql`create index lineage_tenant_ts_idx on lineage_records (tenant_id, ts, id)`.execute(db);
  // Drift reads policy commits per tenant and time.
  await sql`create index outbox_tenant_type_ts_idx on outbox (tenant_id, type, ts)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists outbox_tenant_type_ts_idx`.execute(db);
  await sql`drop table if exists lineage_records`.execute(db);
  await sql`drop table if exists approvals`.execute(db);
}
