/**
 * Keys: the control plane's own signing keys (JWTs, audit checkpoints). Per-tenant key
 * rings and envelope encryption join this module later.
 */
export { loadSigningKeys } from './signing-keys.js';
export type { SigningKeys, SigningKey, SigningPurpose } from './signing-keys.js';
