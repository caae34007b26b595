/**
 * Properties of the envelope format: it round-trips, any changed byte fails, and a
 * ciphertext never opens under another tenant's context or another purpose.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TenancyError } from '../errors.js';
import { ciphertextVersion, envelopeDecrypt, envelopeEncrypt, newKey } from './envelope.js';

const context = fc
  .tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.constantFrom('secret', 'object', 'archive', 'column'))
  .map(([t, p]) => `${t}:${p}`);

describe('envelope encryption', () => {
  const kek = newKey();

  it('round-trips any value', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4096 }),
        context,
        fc.integer({ min: 1, max: 1000 }),
        (bytes, ctx, version) => {
          const ct = envelopeEncrypt(kek, version, Buffer.from(bytes), ctx);
          expect(ciphertextVersion(ct)).toBe(version);
          expect(envelopeDecrypt(kek, ct, ctx).equals(Buffer.from(bytes))).toBe(true);
        },
      ),
    );
  });

  it('fails when any byte of the ciphertext is flipped or the text truncated', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 256 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (bytes, pick, mask) => {
          const ct = envelopeEncrypt(kek, 3, Buffer.from(bytes), 'acme:secret');
          const prefix = 'tnc:v3:';
          const raw = Buffer.from(ct.slice(prefix.length), 'base64url');
          const i = pick % raw.length;
          raw[i] = raw[i]! ^ mask;
          expect(() => envelopeDecrypt(kek, prefix + raw.toString('base64url'), 'acme:secret')).toThrow(TenancyError);
          expect(() => envelopeDecrypt(kek, ct.slice(0, ct.length - 1 - (pick % 10)), 'acme:secret')).toThrow(
            TenancyError,
          );
        },
      ),
    );
  });

  it("never opens under another tenant's context or another purpose", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), context, context, (bytes, a, b) => {
        fc.pre(a !== b);
        const ct = envelopeEncrypt(kek, 1, Buffer.from(bytes), a);
        expect(() => envelopeDecrypt(kek, ct, b)).toThrow(/does not decrypt/);
      }),
    );
  });

  it('refuses a version the ciphertext does not carry, or a changed version label', () => {
    const ct = envelopeEncrypt(kek, 2, Buffer.from('x'), 'acme:secret');
    expect(() => envelopeDecrypt(kek, ct.replace('tnc:v2:', 'tnc:v3:'), 'acme:secret')).toThrow(/does not decrypt/);
    expect(() => ciphertextVersion('plain text')).toThrow(/not a Tenancy ciphertext/);
  });
});
