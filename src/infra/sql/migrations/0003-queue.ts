/**
 * The embedded queue engine's tables: streams, messages, durable consumers and their
 * deliveries (lease and acknowledgement per consumer and message).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table queue_streams (name text primary key, subjects jsonb not null, created_at timestamptz not null)`.execute(
    db,
  );
  await sql`
    create table queue_messages (
      stream text not null references queue_streams(name) on delete cascade,
      seq bigint not null,
      subject text not null,
      data bytea not null,
      published_at timestamptz not null,
      primary key (stream, seq)
    )`.execute(db);
  await sql`
    create table queue_consumers (
      stream text not null references queue_streams(name) on delete cascade,
      name text not null,
      filter_subject text not null,
      primary key (stream, name)
    )`.execute(db);
  await sql`
    create table queue_deliveries (
      stream text not null,
      consumer text not null,
      seq bigint not null,
      acked boolean not null default false,
      lease_until timestamptz not null,
      delivery_count integer not null,
      primary key (stream, consumer, seq),
      foreign key (stream, consumer) references queue_consumers(stream, name) on delete cascade
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['queue_deliveries', 'queue_consumers', 'queue_messages', 'queue_streams'])
    await sql`drop table if exists ${sql.table(t)}`.execute(db);
}
