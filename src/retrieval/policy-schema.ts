/**
 * A tenant's retrieval policy (`kind: RetrievalPolicy`, `tenants/<id>/policies/retrieval.yaml`):
 * how its trust and poisoning guard judges what is ingested and retrieved. A leaf: the
 * manifest schema imports it to validate the document, so it imports only zod, re2js and
 * node:crypto.
 *
 * Forbidden patterns are RE2 syntax, compiled by re2js (a linear-time engine: no
 * backtracking, so no pattern can stall the server whatever the text); patterns RE2 cannot
 * run (back-references, look-around) are refused with the pattern's path.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { RE2JS } from 're2js';
import { z } from 'zod';

export const GUARD_MODES = ['enforce', 'monitor', 'off'] as const;
export const SPOTLIGHTING = ['off', 'datamark', 'encode'] as const;
export const MAX_FORBIDDEN_PATTERNS = 32;
export const MAX_PATTERN_LENGTH = 512;
export const MAX_SOURCE_KEYS = 16;

/** A domain glob: `docs.acme.com`, `*.acme.com` (any subdomain), or `*` (any host). */
const DOMAIN_GLOB = /^(\*|(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)$/;

/** Compile an RE2 pattern (case-insensitive); the error message when it cannot be. */
export function compilePattern(source: string): RE2JS {
  return RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
}

/** An Ed25519 public key from base64 / base64url of its 32 raw bytes, or a PEM SPKI block. */
export function ed25519Key(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    const key = createPublicKey(trimmed);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
    return key;
  }
  const raw = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (raw.length !== 32) throw new Error('must be 32 bytes (base64 or base64url) or a PEM public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

export const sourceKeySchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1..64 letters, digits, ".", "_", "-"'),
    publicKey: z
      .string()
      .max(1024, 'must be at most 1024 characters')
      .superRefine((v, ctx) => {
        try {
          ed25519Key(v);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: `not an Ed25519 public key: ${(e as Error).message}` });
        }
      }),
  })
  .meta({ id: 'RetrievalSourceKey', description: 'An Ed25519 key a source signs its documents with.' });

export const retrievalPolicySpecSchema = z
  .strictObject({
    mode: z
      .enum(GUARD_MODES, { error: `must be one of ${GUARD_MODES.join(', ')}` })
      .default('enforce')
      .describe('enforce: quarantine at ingest and drop at retrieval; monitor: score and report only; off'),
    allowedSources: z
      .array(z.string().regex(DOMAIN_GLOB, 'must be a host name, "*.<domain>" or "*"'))
      .max(256, 'at most 256 globs')
      .default([])
      .describe('hosts documents may come from; empty: any host (scored as unknown)'),
    forbiddenPatterns: z
      .array(
        z
          .string()
          .min(1, 'must not be empty')
          .max(MAX_PATTERN_LENGTH, `must be at most ${MAX_PATTERN_LENGTH} characters`)
          .superRefine((v, ctx) => {
            try {
              compilePattern(v);
            } catch (e) {
              ctx.addIssue({ code: 'custom', message: `not a valid RE2 pattern: ${(e as Error).message}` });
            }
          }),
      )
      .max(MAX_FORBIDDEN_PATTERNS, `at most ${MAX_FORBIDDEN_PATTERNS} patterns`)
      .default([])
      .describe('RE2 patterns (case-insensitive); a document or chunk matching one is quarantined or dropped'),
    signatureRequired: z.boolean().default(false),
    sourceKeys: z
      .array(sourceKeySchema)
      .max(MAX_SOURCE_KEYS, `at most ${MAX_SOURCE_KEYS} keys`)
      .default([])
      .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, 'key ids must be unique'),
    minTrustScore: z.number().min(0, 'must be 0..1').max(1, 'must be 0..1').default(0.5),
    duplicateClusterSize: z
      .number()
      .int('must be an integer')
      .min(2, 'must be 2..100')
      .max(100, 'must be 2..100')
      .default(3)
      .describe('this many documents aimed at the same question form a poisoning cluster'),
    spotlighting: z.enum(SPOTLIGHTING, { error: `must be one of ${SPOTLIGHTING.join(', ')}` }).default('off'),
  })
  .meta({ id: 'RetrievalPolicySpec', description: "A tenant's trust and poisoning guard for retrieval." });

export type RetrievalPolicySpec = z.infer<typeof retrievalPolicySpecSchema>;

/** The policy of a tenant that has applied none: the guard on, with its defaults. */
export const DEFAULT_RETRIEVAL_POLICY: RetrievalPolicySpec = retrievalPolicySpecSchema.parse({});
