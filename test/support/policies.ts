/**
 * Policy helpers for suites: an Ed25519 key registered with a tenant, documents to
 * sign, and a signed commit through the API.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { signPolicy } from '../../src/governance/index.js';
import type { TestPlane } from './engines.js';
import { call, type Res } from './http.js';

/** A key pair and the id it is registered under. */
export interface PolicyKey {
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A fresh Ed25519 key pair (not registered). */
export function newPolicyKey(id = `k-${Math.random().toString(36).slice(2, 10)}`): PolicyKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { id, privateKey, publicKey };
}

/** Register a fresh key with `tenant` (as the platform admin unless `token` is given). */
export async function registerPolicyKey(plane: TestPlane, tenant: string, token?: string): Promise<PolicyKey> {
  const key = newPolicyKey();
  const res = await call(
    plane,
    'POST',
    `/v1/tenants/${tenant}/policy-keys`,
    { id: key.id, jwk: key.publicKey.export({ format: 'jwk' }) },
    token ? { token } : {},
  );
  expect(res.statusCode, res.body).toBe(201);
  return key;
}

/** A small valid policy body (unsigned). */
export function policyDoc(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'export-guard',
    domainId: 'billing',
    usecaseId: 'invoice-export',
    semver: '1.0.0',
    fields: { action: 'string', amount: 'number', user: { role: 'string' }, tags: 'string[]' },
    defaultEffect: 'deny',
    rules: [
      { id: 'deny-large', kind: 'limit', effect: 'deny', when: 'request.amount > 10000.0' },
      {
        id: 'allow-finance',
        kind: 'access',
        effect: 'allow',
        when: 'request.user.role == "finance" && request.action in ["view", "export"]',
      },
    ],
    samples: [
      {
        name: 'finance-export',
        request: { action: 'export', amount: 50, user: { role: 'finance' }, tags: [] },
        expect: 'allow',
      },
      {
        name: 'large',
        request: { action: 'export', amount: 50000, user: { role: 'finance' }, tags: [] },
        expect: 'deny',
      },
    ],
    ...overrides,
  };
}

/** Sign `doc` with `key`. */
export function sign(doc: Record<string, unknown>, key: PolicyKey): Record<string, unknown> {
  return signPolicy(doc, key.privateKey, key.id);
}

/** Commit a signed document; returns the response. */
export async function commitPolicy(
  plane: TestPlane,
  tenant: string,
  doc: Record<string, unknown>,
  key: PolicyKey | null,
  options: { token?: string; query?: string } = {},
): Promise<Res> {
  return call(
    plane,
    'POST',
    `/v1/tenants/${tenant}/policies${options.query ?? ''}`,
    key ? sign(doc, key) : doc,
    options.token ? { token: options.token } : {},
  );
}
