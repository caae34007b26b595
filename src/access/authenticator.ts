/**
 * Turns an `Authorization: Bearer …` header into a principal: an API key (`tnc_…`) or a
 * JWT issued for one. A JWT stops working as soon as the key it was issued for is revoked.
 */
import { bearerCredential, isJwt } from '../contract/index.js';
import { TenancyError } from '../errors.js';
import { keyIdOf, type ApiKeyStore } from './api-key-store.js';
import type { Role } from './roles.js';
import type { TokenService } from './token-service.js';

/** Who is calling. */
export interface Principal {
  /** `apikey:<id>`: the actor written to audit records. */
  actorId: string;
  keyId: string;
  role: Role;
  /** The tenant a tenant role is bound to; null for platform roles. */
  tenantId: string | null;
  via: 'api_key' | 'jwt';
}

/** Resolve credentials to principals. */
export class Authenticator {
  constructor(
    private readonly keys: ApiKeyStore,
    private readonly tokens: TokenService,
  ) {}

  /** The principal for an Authorization header; 401 when missing or invalid. */
  async authenticate(header: string | undefined): Promise<Principal> {
    const credential = bearerCredential(header);
    if (!isJwt(credential)) {
      const key = await this.keys.authenticate(credential);
      return { actorId: `apikey:${key.id}`, keyId: key.id, role: key.role, tenantId: key.tenantId, via: 'api_key' };
    }
    const claims = await this.tokens.verify(credential);
    const key = await this.keys.active(claims.sub);
    if (!key)
      throw new TenancyError(
        'invalid_token',
        'the token is not valid: the API key it was issued for is revoked or gone',
      );
    if (key.role !== claims.role || key.tenantId !== claims.tenant_id) {
      throw new TenancyError('invalid_token', 'the token is not valid: its claims no longer match its API key');
    }
    return { actorId: `apikey:${key.id}`, keyId: key.id, role: key.role, tenantId: key.tenantId, via: 'jwt' };
  }
}

export { keyIdOf };
