/**
 * SCRAM-SHA-256 verifiers made here authenticate a client that knows the password, and no
 * other: the server side of the exchange (RFC 5802) is played against the verifier, the
 * client side by node-postgres's own SASL code.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { roleMark, scramVerifier, scramVerifierAsync } from './tenant-role.js';

const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[]): { clientNonce: string; response: string; message: string };
  continueSession(session: object, password: string, serverData: string): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
};

/** Run one SCRAM exchange of a client holding `password` against a stored `verifier`; true when the server accepts it. */
async function authenticates(verifier: string, password: string): Promise<boolean> {
  const [, rest] = verifier.split('$', 2) as [string, string];
  const [iterations, salt] = rest.split(':') as [string, string];
  const [storedKey, serverKey] = verifier
    .split('$')[2]!
    .split(':')
    .map((b) => Buffer.from(b, 'base64')) as [Buffer, Buffer];
  const session = sasl.startSession(['SCRAM-SHA-256']) as { clientNonce: string; response: string; message: string };
  const clientFirstBare = session.response.slice(session.response.indexOf('n=*'));
  const serverFirst = `r=${session.clientNonce}servernonce,s=${salt},i=${iterations}`;
  await sasl.continueSession(session, password, serverFirst);
  const clientFinal = (session as unknown as { response: string }).response;
  const withoutProof = clientFinal.slice(0, clientFinal.indexOf(',p='));
  const proof = Buffer.from(clientFinal.slice(clientFinal.indexOf(',p=') + 3), 'base64');
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
  const clientKey = Buffer.from(proof.map((b, i) => b ^ clientSignature[i]!));
  if (!timingSafeEqual(createHash('sha256').update(clientKey).digest(), storedKey)) return false;
  // The client checks the server too: it must hold the ServerKey of the same password.
  sasl.finalizeSession(session, `v=${createHmac('sha256', serverKey).update(authMessage).digest('base64')}`);
  return true;
}

describe('SCRAM verifiers', () => {
  it('have the form PostgreSQL stores and authenticate the right password only', async () => {
    const verifier = scramVerifier('correct-horse-battery-staple');
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    expect(verifier).not.toContain('correct-horse');
    expect(await authenticates(verifier, 'correct-horse-battery-staple')).toBe(true);
    expect(await authenticates(verifier, 'correct-horse-battery-stapler')).toBe(false);
    expect(
      await authenticates(
        await scramVerifierAsync('abcdefghijklmnopqrstuvwxyz012345'),
        'abcdefghijklmnopqrstuvwxyz012345',
      ),
    ).toBe(true);
  });

  it('differ for the same password (a fresh salt each time)', () => {
    expect(scramVerifier('same-password-0123456789')).not.toBe(scramVerifier('same-password-0123456789'));
  });
});

describe('role marks', () => {
  it('name the installation, the tenant and its uid, per kind of role', () => {
    const owner = { installationId: 'abc', tenantId: 'acme', tenantUid: '0190-uid' };
    expect(roleMark(owner, 'tenant')).toBe('tenancy/v1 installation=abc tenant=acme uid=0190-uid role=tenant');
    expect(roleMark(owner, 'maintenance')).not.toBe(roleMark(owner, 'tenant'));
    expect(roleMark({ ...owner, tenantUid: 'other' }, 'tenant')).not.toBe(roleMark(owner, 'tenant'));
  });
});
