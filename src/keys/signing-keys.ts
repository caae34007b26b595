/**
 * Ed25519 signing keys for JWTs and audit checkpoints.
 * They live in a file (mode 0600) in the data dir, or at `TENANCY_SIGNING_KEY_FILE` so
 * several replicas share them; never in the database, so database access alone cannot
 * forge a token or re-sign a rewritten audit chain.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TenancyError } from '../errors.js';

/** What a key signs; each purpose has its own key so one cannot stand in for the other. */
export type SigningPurpose = 'jwt' | 'audit';

/** One Ed25519 key pair. */
export interface SigningKey {
  kid: string;
  purpose: SigningPurpose;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: Record<string, unknown>;
  createdAt: string;
}

/** The keys in force: the newest per purpose signs, every key verifies. */
export interface SigningKeys {
  current(purpose: SigningPurpose): SigningKey;
  find(kid: string): SigningKey | undefined;
  publicJwks(purpose: SigningPurpose): Array<Record<string, unknown>>;
  /**
   * A 32-byte secret derived (HKDF-SHA256, `label` as info) from the oldest key of `purpose`,
   * so it stays the same when a newer key is added. For MACs that whoever holds only the
   * database must not be able to compute (the audit chain's keyed links).
   */
  secret(purpose: SigningPurpose, label: string): Buffer;
  /** Detached Ed25519 signature, base64url. */
  sign(purpose: SigningPurpose, data: string): { kid: string; signature: string };
  verify(kid: string, data: string, signature: string): boolean;
}

interface StoredKey {
  kid: string;
  purpose: SigningPurpose;
  privateJwk: Record<string, unknown>;
  createdAt: string;
}

function generate(purpose: SigningPurpose): StoredKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    kid: `${purpose}-${randomBytes(6).toString('hex')}`,
    purpose,
    privateJwk: privateKey.export({ format: 'jwk' }) as Record<string, unknown>,
    createdAt: new Date().toISOString(),
  };
}

function materialize(stored: StoredKey): SigningKey {
  const privateKey = createPrivateKey({ key: stored.privateJwk as never, format: 'jwk' });
  const publicKey = createPublicKey(privateKey);
  const publicJwk = {
    ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>),
    kid: stored.kid,
    alg: 'EdDSA',
    use: 'sig',
  };
  return { kid: stored.kid, purpose: stored.purpose, privateKey, publicKey, publicJwk, createdAt: stored.createdAt };
}

/** Load the key file, creating it (and any missing purpose) on first use. */
export async function loadSigningKeys(file: string): Promise<SigningKeys> {
  let stored: StoredKey[] = [];
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TenancyError(
        'signing_keys_unreadable',
        `cannot read signing keys at ${file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (text !== undefined) {
    try {
      stored = (JSON.parse(text) as { keys: StoredKey[] }).keys;
      if (!Array.isArray(stored)) throw new Error('no "keys" array');
    } catch (error) {
      throw new TenancyError(
        'signing_keys_invalid',
        `signing key file ${file} is not valid: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  let changed = false;
  for (const purpose of ['jwt', 'audit'] as const) {
    if (!stored.some((k) => k.purpose === purpose)) {
      stored.push(generate(purpose));
      changed = true;
    }
  }
  if (changed) {
    await mkdir(dirname(file), { recursive: true });
    try {
      // A new file is created exclusively, so two processes starting at once agree on one set.
      await writeFile(file, `${JSON.stringify({ keys: stored }, null, 2)}\n`, {
        mode: 0o600,
        flag: text === undefined ? 'wx' : 'w',
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadSigningKeys(file);
      throw error;
    }
    await chmod(file, 0o600);
  }
  let keys: SigningKey[];
  try {
    keys = stored.map(materialize);
  } catch (error) {
    throw new TenancyError(
      'signing_keys_invalid',
      `signing key file ${file} holds a key that is not Ed25519: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const byKid = new Map(keys.map((k) => [k.kid, k]));
  const current = (purpose: SigningPurpose): SigningKey => {
    const candidates = keys.filter((k) => k.purpose === purpose);
    return candidates[candidates.length - 1]!;
  };
  return {
    current,
    find: (kid) => byKid.get(kid),
    publicJwks: (purpose) => keys.filter((k) => k.purpose === purpose).map((k) => k.publicJwk),
    secret(purpose, label) {
      const oldest = keys.find((k) => k.purpose === purpose)!;
      const d = Buffer.from(String((oldest.privateKey.export({ format: 'jwk' }) as { d: string }).d), 'base64url');
      return Buffer.from(hkdfSync('sha256', d, `tenancy:${oldest.kid}`, label, 32));
    },
    sign(purpose, data) {
      const key = current(purpose);
      return { kid: key.kid, signature: sign(null, Buffer.from(data), key.privateKey).toString('base64url') };
    },
    verify(kid, data, signature) {
      const key = byKid.get(kid);
      if (!key) return false;
      try {
        return verify(null, Buffer.from(data), key.publicKey, Buffer.from(signature, 'base64url'));
      } catch {
        return false;
      }
    },
  };
}
