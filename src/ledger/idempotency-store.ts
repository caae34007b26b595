/**
 * The stored answers of idempotent requests (`Idempotency-Key`): one row per (caller, key),
 * the response sealed with the owning tenant's key (crypto-shredding the tenant makes its
 * replays unreadable too) or the platform key, and bound to the request it answers, so a sealed
 * response moved to another row does not replay. The HTTP layer decides when to store and replay.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { isTenancyError, TenancyError } from '../errors.js';
import type { Schema } from '../schema.js';

/** The encryption the store needs: the key ring's envelope encryption, per tenant and for the platform. */
export interface ResponseSealer {
  encrypt(tenantId: string, purpose: 'idempotency', plaintext: Buffer): Promise<string>;
  decrypt(tenantId: string, purpose: 'idempotency', ciphertext: string): Promise<Buffer>;
  encryptPlatform(purpose: 'idempotency', plaintext: Buffer): Promise<string>;
  decryptPlatform(purpose: 'idempotency', ciphertext: string): Promise<Buffer>;
}

/** The request an answer belongs to. */
export interface IdempotentRequest {
  /** The caller's key id. */
  principal: string;
  key: string;
  method: string;
  path: string;
  bodyHash: string;
}

/** A stored answer, opened. */
export interface StoredAnswer {
  statusCode: number;
  response: unknown;
}

/** What a stored answer answers: the caller, the key, the request and the status. */
function binding(request: IdempotentRequest, statusCode: number): string {
  return createHash('sha256')
    .update(
      JSON.stringify([request.principal, request.key, request.method, request.path, request.bodyHash, statusCode]),
    )
    .digest('hex');
}

/** Stored answers of idempotent requests. */
export class IdempotencyStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly sealer: ResponseSealer,
  ) {}

  /**
   * The stored answer for this caller and key, or undefined when there is none. 422 when the
   * key was used for a different request; 409 when the answer can no longer be read.
   */
  async find(request: IdempotentRequest): Promise<StoredAnswer | undefined> {
    const stored = await this.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('principal', '=', request.principal)
      .where('key', '=', request.key)
      .executeTakeFirst();
    if (!stored) return undefined;
    if (stored.method !== request.method || stored.path !== request.path || stored.body_hash !== request.bodyHash) {
      throw new TenancyError(
        'idempotency_key_reused',
        'this Idempotency-Key was used for a different request; use a new key',
      );
    }
    try {
      const sealed = stored.response_ciphertext;
      const plain =
        stored.tenant_id === null
          ? await this.sealer.decryptPlatform('idempotency', sealed)
          : await this.sealer.decrypt(stored.tenant_id, 'idempotency', sealed);
      const opened = JSON.parse(plain.toString('utf8')) as { binding?: unknown; response?: unknown };
      if (opened.binding !== binding(request, stored.status_code))
        throw new TenancyError('decryption_failed', 'the stored response answers another request');
      return { statusCode: stored.status_code, response: opened.response };
    } catch (cause) {
      if (!isTenancyError(cause) && !(cause instanceof SyntaxError)) throw cause;
      const why =
        isTenancyError(cause) && cause.code === 'tenant_keys_destroyed'
          ? `the keys of tenant ${stored.tenant_id} were destroyed`
          : 'it does not decrypt';
      throw new TenancyError(
        'idempotency_replay_unavailable',
        `this Idempotency-Key's request was already carried out, but its stored response can no longer be read (${why}); nothing was done again. ` +
          'Send a new Idempotency-Key only if you mean to repeat the request',
        { cause },
      );
    }
  }

  /** Store a 2xx answer, sealed for `owner` (the platform key when null or when the tenant has no usable keys). */
  async save(request: IdempotentRequest, statusCode: number, response: unknown, owner: string | null): Promise<void> {
    const sealed = await this.#seal(
      owner,
      Buffer.from(JSON.stringify({ binding: binding(request, statusCode), response }), 'utf8'),
    );
    await this.db
      .insertInto('idempotency_keys')
      .values({
        principal: request.principal,
        key: request.key,
        method: request.method,
        path: request.path,
        body_hash: request.bodyHash,
        status_code: statusCode,
        response_ciphertext: sealed.ciphertext,
        tenant_id: sealed.tenantId,
        created_at: new Date().toISOString(),
      })
      .onConflict((oc) => oc.columns(['principal', 'key']).doNothing())
      .execute();
  }

  /** Seal with the owner's key; a tenant with no usable key ring (gone, or shredded by this very request) gets the platform key. */
  async #seal(owner: string | null, plaintext: Buffer): Promise<{ ciphertext: string; tenantId: string | null }> {
    if (owner !== null) {
      try {
        return { ciphertext: await this.sealer.encrypt(owner, 'idempotency', plaintext), tenantId: owner };
      } catch {
        // Fall through: still encrypted, with the platform key.
      }
    }
    return { ciphertext: await this.sealer.encryptPlatform('idempotency', plaintext), tenantId: null };
  }
}
