/**
 * Webhook signing secrets at rest: sealed with the tenant's key ring for a tenant's
 * endpoint, with the platform key for a platform-wide one, and opened only to sign. After a
 * rotation the previous secret keeps signing until its overlap ends.
 */
import type { Selectable } from 'kysely';
import type { Schema } from '../../schema.js';
import type { Executor, KeyRing } from '../../keys/index.js';

/** The columns of a `webhooks` row that hold its secrets. */
export type SecretColumns = Pick<
  Selectable<Schema['webhooks']>,
  'tenant_id' | 'secret_ciphertext' | 'previous_secret_ciphertext' | 'previous_secret_expires_at'
>;

/** Seal a secret for storage: the tenant's key for its endpoint (null tenant: the platform key). */
export async function sealSecret(
  keyRing: KeyRing,
  tenantId: string | null,
  secret: string,
  exec: Executor,
): Promise<string> {
  const plain = Buffer.from(secret, 'utf8');
  return tenantId === null
    ? keyRing.encryptPlatform('webhook', plain, exec)
    : keyRing.encrypt(tenantId, 'webhook', plain, exec);
}

async function openSecret(keyRing: KeyRing, tenantId: string | null, ciphertext: string): Promise<string> {
  const plain =
    tenantId === null
      ? await keyRing.decryptPlatform('webhook', ciphertext)
      : await keyRing.decrypt(tenantId, 'webhook', ciphertext);
  return plain.toString('utf8');
}

/** The secrets that sign at `now`: the current one, and the previous one during its overlap. */
export async function openSigningSecrets(keyRing: KeyRing, row: SecretColumns, now: Date): Promise<string[]> {
  const secrets = [await openSecret(keyRing, row.tenant_id, row.secret_ciphertext)];
  if (
    row.previous_secret_ciphertext !== null &&
    row.previous_secret_expires_at !== null &&
    new Date(row.previous_secret_expires_at) > now
  ) {
    secrets.push(await openSecret(keyRing, row.tenant_id, row.previous_secret_ciphertext));
  }
  return secrets;
}

/**
 * The columns a rotation writes: `secret` sealed as the current secret, and the current one
 * kept as the previous for `overlapSeconds` (none when 0), so receivers can switch over.
 */
export async function rotatedSecretColumns(
  keyRing: KeyRing,
  row: Pick<SecretColumns, 'tenant_id' | 'secret_ciphertext'>,
  secret: string,
  overlapSeconds: number,
  exec: Executor,
  now: Date,
) {
  return {
    secret_ciphertext: await sealSecret(keyRing, row.tenant_id, secret, exec),
    previous_secret_ciphertext: overlapSeconds > 0 ? row.secret_ciphertext : null,
    previous_secret_expires_at:
      overlapSeconds > 0 ? new Date(now.getTime() + overlapSeconds * 1000).toISOString() : null,
    secret_rotated_at: now.toISOString(),
  };
}
