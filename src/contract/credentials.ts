/**
 * Credentials as both planes read them: the `Authorization: Bearer …` header, the API key
 * format, and why a JWT failed to verify. The control plane's authenticator and the SDK's
 * resolver refuse the same headers with the same codes and words.
 */
import { errors as joseErrors } from 'jose';
import { TenancyError } from '../errors.js';

/** Every API key starts with this (`tnc_<id>_<secret>`). */
export const API_KEY_PREFIX = 'tnc_';

/** The longest credential accepted. */
export const MAX_CREDENTIAL_LENGTH = 8_192;

/** The credential of an `Authorization: Bearer …` header; 401 when it is missing, malformed or too long. */
export function bearerCredential(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new TenancyError(
      'unauthenticated',
      'this endpoint needs credentials: send "Authorization: Bearer <API key or token>"',
      { headers: { 'WWW-Authenticate': 'Bearer realm="tenancy"' } },
    );
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) {
    throw new TenancyError('unauthenticated', 'the Authorization header must be "Bearer <API key or token>"', {
      headers: { 'WWW-Authenticate': 'Bearer realm="tenancy", error="invalid_request"' },
    });
  }
  const credential = m[1]!;
  if (credential.length > MAX_CREDENTIAL_LENGTH) {
    throw new TenancyError('invalid_credentials', 'the credential is too long');
  }
  return credential;
}

/** Whether a credential is a JWT (three dot-separated parts) rather than an API key. */
export function isJwt(credential: string): boolean {
  return !credential.startsWith(API_KEY_PREFIX) && credential.split('.').length === 3;
}

/** Why a JWT did not verify, in words safe to show the caller. */
export function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'it has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim "${error.claim}" failed (${error.reason})`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'its algorithm is not allowed (only EdDSA)';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'it was not signed by a known key';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'it is malformed';
  return 'it could not be verified';
}
