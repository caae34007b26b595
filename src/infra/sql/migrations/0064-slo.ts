/**
 * SLOs: SLI buckets per tenant and source, per minute (kept 3 days), per hour (kept 8 days)
 * and per day (kept 91 days), and the evaluator's state per SLO and per tenant (freeze, experimental flags off).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of ['sli_minutes', 'sli_hours', 'sli_days'])
    await sql`
      create table ${sql.raw(table)} (
        tenant_id text not null,
        source text not null,
        bucket timestamptz not null,
        total bigint not null default 0,
        errors bigint not null default 0,
        latency integer[] not null,
        cost integer[] not null,
        cost_micros bigint not null default 0,
        primary key (tenant_id, bucket, source)
      )`.execute(db);
  await sql`create index sli_minutes_bucket on sli_minutes (bucket)`.execute(db);
  await sql`create index sli_hours_bucket on sli_hours (bucket)`.execute(db);
  await sql`create index sli_days_bucket on sli_days (bucket)`.execute(db);
  await sql`
    create table slo_states (
      tenant_id text not null,
      name text not null,
      state jsonb not null,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, name)
    )`.execute(db);
  await sql`
    create table slo_tenant_states (
      tenant_id text primary key,
      frozen boolean not null default false,
      frozen_since timestamptz,
      degraded boolean not null default false,
      degraded_since timestamptz,
      healthy_since timestamptz,
      flags_off jsonb not null default '[]',
      updated_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['slo_tenant_states', 'slo_states', 'sli_days', 'sli_hours', 'sli_minutes'])
    await sql`drop table if exists ${sql.raw(t)}`.execute(db);
}
