/**
 * Audit checkpoints become append-only like the log (the same trigger function, now naming
 * the table it guards), and a checkpoint records from which `seq` the chain's links are
 * keyed (HMAC with a key the database does not hold): part of what the checkpoint signs.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create or replace function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only: % is not allowed', tg_table_name, tg_op using errcode = 'P0001';
    end $$`.execute(db);
  await sql`alter table audit_checkpoints add column keyed_from bigint`.execute(db);
  await sql`
    create trigger audit_checkpoints_no_update_delete before update or delete on audit_checkpoints
    for each row execute function audit_log_append_only()`.execute(db);
  await sql`
    create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
    for each statement execute function audit_log_append_only()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger if exists audit_checkpoints_no_truncate on audit_checkpoints`.execute(db);
  await sql`drop trigger if exists audit_checkpoints_no_update_delete on audit_checkpoints`.execute(db);
  await sql`alter table audit_checkpoints drop column if exists keyed_from`.execute(db);
}
