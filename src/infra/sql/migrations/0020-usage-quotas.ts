/**
 * Usage metering and quota accounting: raw meter events (idempotent by the meter's own id
 * per tenant), their hourly and daily rollups (maintained in the same statement that
 * accepts the events), quota counters (counts an app owns, storage bytes), the index of
 * objects written through Tenancy's object handles (their sizes make storage exact), and
 * the quota alerts already raised per period (each is emitted once).
 *
 * Amounts are `numeric`: sums of money and byte-hours must not drift with the order in
 * which concurrent writers add them.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table usage_events (
      tenant_id text not null references tenants(id),
      id text not null,
      resource text not null,
      amount numeric not null,
      ts timestamptz not null,
      source text not null,
      recorded_at timestamptz not null,
      primary key (tenant_id, id)
    )`.execute(db);
  // Raw events are pruned by age.
  await sql`create index usage_events_ts_idx on usage_events (ts)`.execute(db);

  await sql`
    create table usage_rollups (
      tenant_id text not null references tenants(id),
      granularity text not null check (granularity in ('hour', 'day')),
      bucket_start timestamptz not null,
      resource text not null,
      amount numeric not null,
      events bigint not null,
      max_amount numeric not null,
      updated_at timestamptz not null,
      primary key (tenant_id, granularity, bucket_start, resource)
    )`.execute(db);
  // The platform-wide monthly report reads one period across every tenant.
  await sql`create index usage_rollups_period_idx on usage_rollups (granularity, bucket_start)`.execute(db);

  await sql`
    create table quota_counters (
      tenant_id text not null references tenants(id),
      quota text not null,
      used bigint not null check (used >= 0),
      updated_at timestamptz not null,
      primary key (tenant_id, quota)
    )`.execute(db);

  await sql`
    create table tenant_objects (
      tenant_id text not null references tenants(id),
      key text not null,
      bytes bigint not null check (bytes >= 0),
      content_type text not null,
      etag text not null,
      updated_at timestamptz not null,
      primary key (tenant_id, key)
    )`.execute(db);

  await sql`
    create table quota_alerts (
      tenant_id text not null references tenants(id),
      quota text not null,
      period text not null,
      limit_value numeric not null,
      current_value numeric not null,
      raised_at timestamptz not null,
      primary key (tenant_id, quota, period)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['quota_alerts', 'tenant_objects', 'quota_counters', 'usage_rollups', 'usage_events']) {
    await sql`drop table if exists ${sql.table(table)}`.execute(db);
  }
}
