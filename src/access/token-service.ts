/**
 * Short-lived JWTs exchanged for an API key: EdDSA (Ed25519) via `jose`, published at
 * `/.well-known/jwks.json`. Verification pins the algorithm, issuer and audience and
 * checks exp/nbf, so `alg: none`, HS256 confusion and tokens for another audience fail.
 */
import { SignJWT, jwtVerify, createLocalJWKSet, type JWTPayload } from 'jose';
import { describeJoseError } from '../contract/index.js';
import { TenancyError } from '../errors.js';
import type { SigningKeys } from '../keys/index.js';
import type { Role } from './roles.js';

export const JWT_ISSUER = 'tenancy';
export const DEFAULT_AUDIENCE = 'tenancy';
export const DEFAULT_TOKEN_TTL_SECONDS = 900;
export const MAX_TOKEN_TTL_SECONDS = 3_600;

/** Claims Tenancy puts in a token. */
export interface TokenClaims {
  sub: string;
  tenant_id: string | null;
  role: Role;
  plan: string | null;
  aud: string;
  exp: number;
  iat: number;
}

/** Issues and verifies tokens with the `jwt` signing key. */
export class TokenService {
  readonly #jwks: ReturnType<typeof createLocalJWKSet>;

  constructor(
    private readonly keys: SigningKeys,
    private readonly audience = DEFAULT_AUDIENCE,
  ) {
    this.#jwks = createLocalJWKSet({ keys: keys.publicJwks('jwt') as never });
  }

  /** The public keys, as served at `/.well-known/jwks.json`. */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return { keys: this.keys.publicJwks('jwt') };
  }

  /** Sign a token for a key's principal. */
  async issue(input: {
    keyId: string;
    tenantId: string | null;
    role: Role;
    plan: string | null;
    ttlSeconds: number;
    audience?: string;
  }): Promise<{ token: string; expiresAt: string; claims: TokenClaims }> {
    const key = this.keys.current('jwt');
    const now = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      sub: input.keyId,
      tenant_id: input.tenantId,
      role: input.role,
      plan: input.plan,
      aud: input.audience ?? this.audience,
      iat: now,
      exp: now + input.ttlSeconds,
    };
    const token = await new SignJWT({ tenant_id: claims.tenant_id, role: claims.role, plan: claims.plan })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
      .setIssuer(JWT_ISSUER)
      .setSubject(claims.sub)
      .setAudience(claims.aud)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(claims.exp)
      .sign(key.privateKey);
    return { token, expiresAt: new Date(claims.exp * 1000).toISOString(), claims };
  }

  /** Verify a token; any failure is a 401 that says which check failed. */
  async verify(token: string): Promise<TokenClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#jwks, {
        algorithms: ['EdDSA'],
        issuer: JWT_ISSUER,
        audience: this.audience,
        clockTolerance: 5,
      }));
    } catch (error) {
      throw new TenancyError('invalid_token', `the token is not valid: ${describeJoseError(error)}`, {
        cause: error,
      });
    }
    const {
      sub,
      role,
      tenant_id: tenantId,
      plan,
      exp,
      iat,
      aud,
    } = payload as JWTPayload & { role?: unknown; tenant_id?: unknown; plan?: unknown };
    if (typeof sub !== 'string' || typeof role !== 'string' || (tenantId !== null && typeof tenantId !== 'string')) {
      throw new TenancyError('invalid_token', 'the token is not valid: claims are missing');
    }
    return {
      sub,
      role: role as Role,
      tenant_id: tenantId as string | null,
      plan: (plan as string | null) ?? null,
      aud: String(aud),
      exp: exp ?? 0,
      iat: iat ?? 0,
    };
  }
}
