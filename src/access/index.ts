/**
 * Access: API keys, JWTs, principals, and the role x action permission matrix.
 */
export { ApiKeyStore, API_KEY_PREFIX, keyIdOf } from './api-key-store.js';
export type { ApiKeyInfo, NewApiKey } from './api-key-store.js';
export {
  TokenService,
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  JWT_ISSUER,
  DEFAULT_AUDIENCE,
} from './token-service.js';
export type { TokenClaims } from './token-service.js';
export { Authenticator } from './authenticator.js';
export type { Principal } from './authenticator.js';
export {
  ROLES,
  PLATFORM_ROLES,
  TENANT_ROLES,
  ACTIONS,
  PERMISSIONS,
  PLATFORM_ONLY_SPEC_FIELDS,
  can,
  mayGrant,
  isPlatformRole,
  isTenantRole,
} from './roles.js';
export type { Role, PlatformRole, TenantRole, Action } from './roles.js';
export { ensureAdminKey } from './bootstrap.js';
