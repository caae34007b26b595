/**
 * AES-256-GCM envelope encryption primitives and the ciphertext format.
 * A value is sealed with a fresh data key; the data key is sealed with the tenant's key
 * version. Both seals carry associated data that binds tenant, purpose and key version,
 * so ciphertext moved to another tenant or purpose does not open.
 *
 * Format: `tnc:v<keyVersion>:<base64url(dekIv | dekTag | wrappedDek | iv | tag | ciphertext)>`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { TenancyError } from '../errors.js';

const IV = 12;
const TAG = 16;
const KEY = 32;

/** Seal `plaintext` with `key` (AES-256-GCM); returns iv | tag | ciphertext. */
export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

/** Open what {@link seal} made; throws `decryption_failed` on any mismatch. */
export function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < IV + TAG) throw decryptionFailed();
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(sealed.subarray(IV, IV + TAG));
    return Buffer.concat([decipher.update(sealed.subarray(IV + TAG)), decipher.final()]);
  } catch (cause) {
    throw decryptionFailed(cause);
  }
}

function decryptionFailed(cause?: unknown): TenancyError {
  return new TenancyError(
    'decryption_failed',
    'the ciphertext does not decrypt for this tenant and purpose (wrong tenant, wrong purpose, destroyed key, or altered data)',
    cause ? { cause } : {},
  );
}

/** A fresh 256-bit key. */
export function newKey(): Buffer {
  return randomBytes(KEY);
}

/** Seal `plaintext` under a fresh data key wrapped by `kek`. */
export function envelopeEncrypt(kek: Buffer, keyVersion: number, plaintext: Buffer, context: string): string {
  const dek = newKey();
  const wrapped = seal(kek, dek, `tenancy:dek:${context}:v${keyVersion}`);
  const body = seal(dek, plaintext, `tenancy:data:${context}:v${keyVersion}`);
  dek.fill(0);
  return `tnc:v${keyVersion}:${Buffer.concat([wrapped, body]).toString('base64url')}`;
}

/** The key version a ciphertext names, or a `invalid_ciphertext` error. */
export function ciphertextVersion(ciphertext: string): number {
  const m = /^tnc:v([1-9][0-9]{0,8}):([A-Za-z0-9_-]+)$/.exec(ciphertext);
  if (!m) throw new TenancyError('invalid_ciphertext', 'not a Tenancy ciphertext (expected tnc:v<version>:<data>)');
  return Number(m[1]);
}

/** Open an envelope made by {@link envelopeEncrypt} with the key version it names. */
export function envelopeDecrypt(kek: Buffer, ciphertext: string, context: string): Buffer {
  const version = ciphertextVersion(ciphertext);
  const raw = Buffer.from(ciphertext.slice(ciphertext.indexOf(':', 4) + 1), 'base64url');
  const wrappedLength = IV + TAG + KEY;
  if (raw.length < wrappedLength + IV + TAG) throw decryptionFailed();
  const dek = open(kek, raw.subarray(0, wrappedLength), `tenancy:dek:${context}:v${version}`);
  try {
    return open(dek, raw.subarray(wrappedLength), `tenancy:data:${context}:v${version}`);
  } finally {
    dek.fill(0);
  }
}
