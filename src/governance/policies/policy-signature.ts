/**
 * Policy signatures: Ed25519 over the RFC 8785 canonical JSON of the policy document
 * without its `originSignature`, so any re-serialization (YAML, JSON, key order) of the
 * same document verifies, and any change to its content does not.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';

/** The bytes a policy signature covers. */
export function signedPayload(document: Record<string, unknown>): string {
  const { originSignature: _ignored, ...body } = document;
  const text = canonicalize(body);
  if (text === undefined) throw new Error('policy body cannot be canonicalized');
  return text;
}

/** SHA-256 (hex) of the signed payload: identifies a policy's content. */
export function policyDigest(document: Record<string, unknown>): string {
  return createHash('sha256').update(signedPayload(document)).digest('hex');
}

/** Sign a policy document with an Ed25519 private key (the tenant's tooling does this; tests too). */
export function signPolicy(
  document: Record<string, unknown>,
  privateKey: KeyObject,
  keyId: string,
): Record<string, unknown> {
  const signature = sign(null, Buffer.from(signedPayload(document)), privateKey).toString('base64url');
  return { ...document, originSignature: { keyId, alg: 'EdDSA', signature } };
}

/** Whether `signature` (base64url) is `publicKey`'s Ed25519 signature over the document. */
export function verifyPolicySignature(
  document: Record<string, unknown>,
  publicKeyPem: string,
  signature: string,
): boolean {
  try {
    return verify(
      null,
      Buffer.from(signedPayload(document)),
      createPublicKey(publicKeyPem),
      Buffer.from(signature, 'base64url'),
    );
  } catch {
    return false;
  }
}
