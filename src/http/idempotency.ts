/**
 * `Idempotency-Key` on POST: the first 2xx response for a (caller, key) is stored and
 * returned again for a repeat with the same method, path and body; the same key with a
 * different request is 422. Failed requests are not stored, so they can be retried.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { TenancyError, validationError } from '../errors.js';
import { json, type Schema } from '../infra/sql/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: { key: string; bodyHash: string } | undefined;
  }
}

function bodyHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body ?? null)).digest('hex');
}

/** Install the hooks (after authentication has set `request.principal`). */
export function registerIdempotency(app: FastifyInstance, db: Kysely<Schema>): void {
  app.decorateRequest('idempotency', undefined);

  // Only POST routes carry the hooks, so reads pay nothing for idempotency.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST') || !route.url.startsWith('/v1/')) return;
    route.preHandler = [...toArray(route.preHandler), replay];
    route.onSend = [...toArray(route.onSend), store];
  });

  async function replay(request: FastifyRequest, reply: FastifyReply) {
    if (!request.principal) return;
    const header = request.headers['idempotency-key'];
    if (header === undefined) return;
    if (Array.isArray(header) || !/^[\x21-\x7e]{1,255}$/.test(header)) {
      throw validationError('Idempotency-Key must be 1..255 printable ASCII characters, sent once', [{ path: '/headers/idempotency-key', message: 'invalid' }], 'invalid_idempotency_key');
    }
    const hash = bodyHash(request.body);
    const path = request.url.split('?')[0]!;
    const stored = await db.selectFrom('idempotency_keys').selectAll().where('principal', '=', request.principal.keyId).where('key', '=', header).executeTakeFirst();
    if (stored) {
      if (stored.method !== request.method || stored.path !== path || stored.body_hash !== hash) {
        throw new TenancyError('idempotency_key_reused', 422, 'this Idempotency-Key was used for a different request; use a new key');
      }
      return reply.code(stored.status_code).header('Idempotent-Replayed', 'true').type('application/json; charset=utf-8').send(stored.response);
    }
    request.idempotency = { key: header, bodyHash: hash };
    return undefined;
  }

  async function store(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const idem = request.idempotency;
    if (!idem || !request.principal || reply.statusCode < 200 || reply.statusCode >= 300 || reply.getHeader('idempotent-replayed')) return payload;
    let body: unknown = null;
    try {
      body = typeof payload === 'string' ? JSON.parse(payload) : null;
    } catch {
      return payload;
    }
    await db
      .insertInto('idempotency_keys')
      .values({
        principal: request.principal.keyId,
        key: idem.key,
        method: request.method,
        path: request.url.split('?')[0]!,
        body_hash: idem.bodyHash,
        status_code: reply.statusCode,
        response: json(body),
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
