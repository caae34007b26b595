/**
 * Keys: the control plane's signing keys (JWTs, audit checkpoints), the root key, the
 * per-tenant key ring (envelope encryption, rotation, crypto-shredding) behind the
 * `KeyRing` port, and tenant secrets encrypted with it.
 */
export { loadSigningKeys } from './signing-keys.js';
export type { SigningKeys, SigningKey, SigningPurpose } from './signing-keys.js';
export { loadRootKey, rootKeyFrom } from './root-key.js';
export type { RootKey } from './root-key.js';
export { PURPOSES } from './key-ring.js';
export type { KeyRing, KeyVersionInfo, Purpose, Executor } from './key-ring.js';
export { LocalKeyRing } from './local-key-ring.js';
export { KeyAdmin } from './key-admin.js';
export { PlatformSecretStore } from './platform-secrets.js';
export type { PlatformSecretInfo } from './platform-secrets.js';
export { SecretStore, secretName, SECRET_NAME_PATTERN, MAX_SECRET_BYTES } from './secret-store.js';
export type { SecretInfo, SecretValue } from './secret-store.js';
export { ciphertextVersion } from './envelope.js';
export { activeKeyOlderThan, activeTenantKey } from './tenant-key-rows.js';
