/**
 * The installation's identity: a random id, stamped into the ownership mark of every
 * cluster-global name it makes (tenant roles, dedicated databases), and the prefix those
 * names carry (decided once, at the first start with a PostgreSQL warehouse). An
 * installation that already has tenant roles keeps its names (prefix '') and lists those
 * tenants, whose unmarked roles it made before marks existed and may mark once.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table installation (
      singleton boolean primary key default true check (singleton),
      installation_id text not null,
      warehouse_prefix text,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    insert into installation (installation_id, warehouse_prefix)
    select replace(gen_random_uuid()::text, '-', ''),
           case when exists (select 1 from tenant_credentials where kind = 'database-role') then '' else null end`.execute(
    db,
  );
  await sql`create table warehouse_legacy_roles (tenant_id text primary key references tenants(id))`.execute(db);
  await sql`insert into warehouse_legacy_roles (tenant_id) select tenant_id from tenant_credentials where kind = 'database-role'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists warehouse_legacy_roles`.execute(db);
  await sql`drop table if exists installation`.execute(db);
}
