/**
 * `Idempotency-Key` on POST: the first 2xx response for a (caller, key) is stored and
 * returned again for a repeat with the same method, path and body; the same key with a
 * different request is 422. Failed requests are not stored, so they can be retried.
 *
 * A response can carry a secret the client sees only once (an API key's token, a webhook's
 * signing secret), and a client retrying after a lost response needs exactly that secret, so
 * every stored response is sealed by the ledger's `IdempotencyStore` with the key of the
 * tenant it belongs to (the path's tenant, the caller's, or the response's `tenantId`), chosen
 * here, or with the platform key otherwise.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { validationError } from '../errors.js';
import type { IdempotencyStore, IdempotentRequest } from '../ledger/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: IdempotentRequest | undefined;
  }
}

function bodyHash(body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(body ?? null))
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
export function registerIdempotency(app: FastifyInstance, answers: IdempotencyStore): void {
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
      throw validationError(
        'Idempotency-Key must be 1..255 printable ASCII characters, sent once',
        [{ path: '/headers/idempotency-key', message: 'invalid' }],
        'invalid_idempotency_key',
      );
    }
    const idem: IdempotentRequest = {
      principal: request.principal.keyId,
      key: header,
      method: request.method,
      path: request.url.split('?')[0]!,
      bodyHash: bodyHash(request.body),
    };
    const stored = await answers.find(idem);
    if (stored) {
      return reply
        .code(stored.statusCode)
        .header('Idempotent-Replayed', 'true')
        .type('application/json; charset=utf-8')
        .send(stored.response);
    }
    request.idempotency = idem;
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
    await answers.save(idem, reply.statusCode, body, ownerOf(request, body));
    return payload;
  }
}

function toArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
