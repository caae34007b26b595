/**
 * The tenant's policy signing keys: Ed25519 public keys (JWK or PEM) that may sign its
 * policies. A key id defaults to the RFC 7638 JWK thumbprint. Registration and removal
 * are audited and evented in the same transaction.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import type { Kysely, Transaction } from 'kysely';
import { conflict, notFound, validationError } from '../../errors.js';
import { json } from '../../infra/sql/index.js';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';

/** A registered key as the API shows it. */
export interface PolicyKeyInfo {
  id: string;
  tenantId: string;
  jwk: Record<string, unknown>;
  publicKeyPem: string;
  description: string | null;
  createdAt: string;
  createdBy: string;
}

/** Policy key ids: given at registration, or an RFC 7638 thumbprint (base64url). */
export const POLICY_KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** Read an Ed25519 public key from a JWK or a PEM; anything else is a 400 naming the field. */
export function parsePublicKey(input: {
  jwk?: Record<string, unknown> | undefined;
  publicKeyPem?: string | undefined;
}): KeyObject {
  const path = input.jwk ? '/jwk' : '/publicKeyPem';
  let key: KeyObject;
  try {
    if (input.jwk) {
      if ('d' in input.jwk)
        throw validationError(
          'a private key was sent',
          [{ path: '/jwk/d', message: 'send the public key only (no "d")' }],
          'invalid_policy_key',
        );
      key = createPublicKey({ key: input.jwk as never, format: 'jwk' });
    } else if (input.publicKeyPem) {
      if (/PRIVATE KEY/.test(input.publicKeyPem))
        throw validationError(
          'a private key was sent',
          [{ path, message: 'send the public key only' }],
          'invalid_policy_key',
        );
      key = createPublicKey(input.publicKeyPem);
    } else {
      throw validationError(
        'a key is needed',
        [{ path: '/jwk', message: 'send jwk or publicKeyPem' }],
        'invalid_policy_key',
      );
    }
  } catch (error) {
    if ((error as { code?: string }).code === 'invalid_policy_key') throw error;
    throw validationError(
      'the key cannot be read',
      [{ path, message: `not a readable public key: ${(error as Error).message.split('\n')[0]}` }],
      'invalid_policy_key',
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw validationError(
      'policy keys are Ed25519',
      [{ path, message: `is ${key.asymmetricKeyType ?? 'unknown'}, must be Ed25519 (OKP, crv Ed25519)` }],
      'invalid_policy_key',
    );
  return key;
}

/** Store and look up tenants' policy keys. */
export class PolicyKeyStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
  ) {}

  /** Register a public key; the id is given or the key's JWK thumbprint. */
  async register(
    actor: Actor,
    tenantId: string,
    input: {
      id?: string | undefined;
      jwk?: Record<string, unknown> | undefined;
      publicKeyPem?: string | undefined;
      description?: string | undefined;
    },
  ): Promise<PolicyKeyInfo> {
    const key = parsePublicKey(input);
    const jwk = key.export({ format: 'jwk' }) as Record<string, unknown>;
    const pem = key.export({ format: 'pem', type: 'spki' }).toString();
    const id = input.id ?? (await calculateJwkThumbprint(jwk as never));
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('policy_keys')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (existing) throw conflict('policy_key_exists', `tenant ${tenantId} already has a policy key ${id}`);
      const now = new Date().toISOString();
      await trx
        .insertInto('policy_keys')
        .values({
          tenant_id: tenantId,
          id,
          public_key_pem: pem,
          jwk: json(jwk),
          description: input.description ?? null,
          created_at: now,
          created_by: actor.id,
        })
        .execute();
      await this.#record(trx, actor, 'policy.key.register', 'policy.key_registered', tenantId, id);
      return {
        id,
        tenantId,
        jwk: { ...jwk, kid: id, alg: 'EdDSA', use: 'sig' },
        publicKeyPem: pem,
        description: input.description ?? null,
        createdAt: now,
        createdBy: actor.id,
      };
    });
  }

  /** A tenant's keys, in id order. */
  async list(tenantId: string): Promise<PolicyKeyInfo[]> {
    const rows = await this.db
      .selectFrom('policy_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      jwk: { ...r.jwk, kid: r.id, alg: 'EdDSA', use: 'sig' },
      publicKeyPem: r.public_key_pem,
      description: r.description,
      createdAt: new Date(r.created_at).toISOString(),
      createdBy: r.created_by,
    }));
  }

  /** Remove a key: policies it signed stay committed, new ones need another key. */
  async remove(actor: Actor, tenantId: string, id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const gone = await trx
        .deleteFrom('policy_keys')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0)
        throw notFound('policy_key_not_found', `tenant ${tenantId} has no policy key ${id}`);
      await this.#record(trx, actor, 'policy.key.delete', 'policy.key_deleted', tenantId, id);
    });
  }

  /** The PEM of a tenant's key, or undefined. */
  async publicKey(tenantId: string, id: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('policy_keys')
      .select('public_key_pem')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row?.public_key_pem;
  }

  async #record(
    trx: Transaction<Schema>,
    actor: Actor,
    action: string,
    type: string,
    tenantId: string,
    id: string,
  ): Promise<void> {
    await this.audit.recordChange(trx, {
      actor,
      action,
      target: `tenant/${tenantId}/policy-key/${id}`,
      tenantId,
      outcome: 'success',
      details: { keyId: id },
      event: { type, tenantId, payload: { id: tenantId, keyId: id } },
    });
  }
}
