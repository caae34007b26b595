/**
 * `Idempotency-Key` on POST: the first 2xx response for a (caller, key) is stored and
 * returned again for a repeat with the same method, path and body; the same key with a
 * different request is 422. Failed requests are not stored, so they can be retried.
 *
 * A response can carry a secret the client sees only once (an API key's token, a webhook's
 * signing secret), and a client retrying after a lost response needs exactly that secret, so
 * every stored response is encrypted with the key ring: with the key of the tenant it belongs
 * to (the path's tenant, the caller's, or the response's `tenantId`), so crypto-shredding the
 * tenant makes its replays unreadable too, and with the platform key otherwise. The plaintext
 * also names the request it answers, so a sealed response moved to another row does not replay.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { isTenancyError, TenancyError, validationError } from '../errors.js';
import type { Schema } from '../infra/sql/index.js';
import type { KeyRing } from '../keys/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: { key: string; bodyHash: string } | undefined;
  }
}

function bodyHash(body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(body ?? null))
    .digest('hex');
}

/** What a stored response answers: the caller, the key and the request. */
function binding(row: {
  principal: string;
  key: string;
  method: string;
  path: string;
  body_hash: string;
  status_code: number;
}): string {
  return createHash('sha256')
    .update(JSON.stringify([row.principal, row.key, row.method, row.path, row.body_hash, row.status_code]))
    .digest('hex');
}

/** The tenant a response belongs to, if any: the path's, then the caller's, then the one the response names. */
function ownerOf(request: FastifyRequest, body: unknown): string | null {
  const params = request.params as { id?: unknown } | undefined;
  if (request.routeOptions.url?.startsWith('/v1/tenants/:id') && typeof params?.id === 'string') return params.id;
  if (request.principal?.tenantId) return request.principal.tenantId;
  const named = body !== null && typeof body === 'object' ? (body as { tenantId?: unknown }).tenantId : undefined;
  return typeof named === 'string' ? named : null;
}

/** Install the hooks (after authentication has set `request.principal`). */
export function registerIdempotency(app: FastifyInstance, db: Kysely<Schema>, keyRing: KeyRing): void {
  app.decorateRequest('idempotency', undefined);

  // Only POST routes carry the hooks, so reads pay nothing for idempotency.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST') || !route.url.startsWith('/v1/')) return;
    route.preHandler = [...toArray(route.preHandler), replay];
    route.onSend = [...toArray(route.onSend), store];
  });

  /** Seal with the owner's key; a tenant with no usable key ring (gone, or shredded by this very request) gets the platform key. */
  async function seal(
    owner: string | null,
    plaintext: Buffer,
  ): Promise<{ ciphertext: string; tenantId: string | null }> {
    if (owner !== null) {
      try {
        return { ciphertext: await keyRing.encrypt(owner, 'idempotency', plaintext), tenantId: owner };
      } catch {
        // Fall through: still encrypted, with the platform key.
      }
    }
    return { ciphertext: await keyRing.encryptPlatform('idempotency', plaintext), tenantId: null };
  }

  async function replay(request: FastifyRequest, reply: FastifyReply) {
    if (!request.principal) return;
    const header = request.headers['idempotency-key'];
    if (header === undefined) return;
    if (Array.isArray(header) || !/^[\x21-\x7e]{1,255}$/.test(header)) {
      throw validationError(
        'Idempotency-Key must be 1..255 printable ASCII characters, sent once',
        [{ path: '/headers/idempotency-key', message: 'invalid' }],
        'invalid_idempotency_key',
      );
    }
    const hash = bodyHash(request.body);
    const path = request.url.split('?')[0]!;
    const stored = await db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('principal', '=', request.principal.keyId)
      .where('key', '=', header)
      .executeTakeFirst();
    if (stored) {
      if (stored.method !== request.method || stored.path !== path || stored.body_hash !== hash) {
        throw new TenancyError(
          'idempotency_key_reused',
          422,
          'this Idempotency-Key was used for a different request; use a new key',
        );
      }
      let response: unknown;
      try {
        const sealed = stored.response_ciphertext;
        const plain =
          stored.tenant_id === null
            ? await keyRing.decryptPlatform('idempotency', sealed)
            : await keyRing.decrypt(stored.tenant_id, 'idempotency', sealed);
        const opened = JSON.parse(plain.toString('utf8')) as { binding?: unknown; response?: unknown };
        if (opened.binding !== binding(stored))
          throw new TenancyError('decryption_failed', 400, 'the stored response answers another request');
        response = opened.response;
      } catch (cause) {
        if (!isTenancyError(cause) && !(cause instanceof SyntaxError)) throw cause;
        const why =
          isTenancyError(cause) && cause.code === 'tenant_keys_destroyed'
            ? `the keys of tenant ${stored.tenant_id} were destroyed`
            : 'it does not decrypt';
        throw new TenancyError(
          'idempotency_replay_unavailable',
          409,
          `this Idempotency-Key's request was already carried out, but its stored response can no longer be read (${why}); nothing was done again. ` +
            'Send a new Idempotency-Key only if you mean to repeat the request',
          { cause },
        );
      }
      return reply
        .code(stored.status_code)
        .header('Idempotent-Replayed', 'true')
        .type('application/json; charset=utf-8')
        .send(response);
    }
    request.idempotency = { key: header, bodyHash: hash };
    return undefined;
  }

  async function store(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const idem = request.idempotency;
    if (
      !idem ||
      !request.principal ||
      reply.statusCode < 200 ||
      reply.statusCode >= 300 ||
      reply.getHeader('idempotent-replayed')
    )
      return payload;
    let body: unknown = null;
    try {
      body = typeof payload === 'string' ? JSON.parse(payload) : null;
    } catch {
      return payload;
    }
    const path = request.url.split('?')[0]!;
    const row = {
      principal: request.principal.keyId,
      key: idem.key,
      method: request.method,
      path,
      body_hash: idem.bodyHash,
      status_code: reply.statusCode,
    };
    const sealed = await seal(
      ownerOf(request, body),
      Buffer.from(JSON.stringify({ binding: binding(row), response: body }), 'utf8'),
    );
    await db
      .insertInto('idempotency_keys')
      .values({
        ...row,
        response_ciphertext: sealed.ciphertext,
        tenant_id: sealed.tenantId,
        created_at: new Date().toISOString(),
      })
      .onConflict((oc) => oc.columns(['principal', 'key']).doNothing())
      .execute();
    return payload;
  }
}

function toArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
