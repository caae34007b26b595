/**
 * The key-management port. The local implementation ({@link LocalKeyRing}) keeps tenant
 * key versions wrapped by the root key in the control-plane store; an external KMS
 * (Vault transit, a cloud KMS) is a sibling implementation of this interface.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../schema.js';

/** What a ciphertext is for; part of its associated data, so it cannot be reused elsewhere. */
export const PURPOSES = ['secret', 'object', 'archive', 'column', 'credential', 'webhook', 'idempotency'] as const;
export type Purpose = (typeof PURPOSES)[number];

/** Where a key-ring call reads and writes: the store, or the caller's transaction. */
export type Executor = Kysely<Schema> | Transaction<Schema>;

/** One key version of a tenant, as the API shows it (never key material). */
export interface KeyVersionInfo {
  keyId: string;
  version: number;
  state: 'active' | 'decrypt-only' | 'retired' | 'destroyed';
  createdAt: string;
  retiredAt: string | null;
  destroyedAt: string | null;
}

/** Per-tenant envelope encryption. */
export interface KeyRing {
  /** Id of the key that wraps the tenant keys (the root key, or the KMS key). */
  readonly rootKeyId: string;
  /** Create the tenant's first key version if it has none; returns the active version. */
  ensureTenantKey(tenantId: string, exec?: Executor): Promise<number>;
  /** Add a new active version; older versions still decrypt. */
  rotate(tenantId: string, exec?: Executor): Promise<number>;
  /** Versions below `minVersion` stop decrypting (after a rewrap). */
  retireBelow(tenantId: string, minVersion: number, exec?: Executor): Promise<number>;
  versions(tenantId: string, exec?: Executor): Promise<KeyVersionInfo[]>;
  encrypt(tenantId: string, purpose: Purpose, plaintext: Buffer, exec?: Executor): Promise<string>;
  decrypt(tenantId: string, purpose: Purpose, ciphertext: string, exec?: Executor): Promise<Buffer>;
  /**
   * Seal a platform-wide value (no tenant owns it) with the platform key, itself wrapped
   * by the root key, so root rotation rewraps it like a tenant key and data is untouched.
   */
  encryptPlatform(purpose: Purpose, plaintext: Buffer, exec?: Executor): Promise<string>;
  decryptPlatform(purpose: Purpose, ciphertext: string, exec?: Executor): Promise<Buffer>;
  /** Destroy every version (crypto-shredding); returns the key ids destroyed. */
  destroyTenantKeys(tenantId: string, exec: Executor): Promise<string[]>;
  /** Rewrap every tenant key under a new root key; data is not touched. */
  rotateRoot(newRoot: Buffer): Promise<{ rootKeyId: string; rewrapped: number }>;
}
