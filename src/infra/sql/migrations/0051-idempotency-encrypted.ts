/**
 * Idempotency replays are stored encrypted: `response_ciphertext` holds the first response
 * sealed with the key ring (the owning tenant's key, `tenant_id`, or the platform key when
 * `tenant_id` is null), because a response can carry a secret (an API key's token, a
 * webhook's signing secret) and nothing secret is stored in plaintext. Rows stored before
 * held plaintext and cannot be sealed here (the root key never reaches SQL), so they are
 * deleted: a client that retries across this upgrade runs its request again.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`delete from idempotency_keys`.execute(db);
  await sql`alter table idempotency_keys drop column response`.execute(db);
  await sql`alter table idempotency_keys add column response_ciphertext text not null`.execute(db);
  await sql`alter table idempotency_keys add column tenant_id text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`delete from idempotency_keys`.execute(db);
  await sql`alter table idempotency_keys drop column if exists tenant_id`.execute(db);
  await sql`alter table idempotency_keys drop column if exists response_ciphertext`.execute(db);
  await sql`alter table idempotency_keys add column response jsonb not null`.execute(db);
}
