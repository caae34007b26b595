/**
 * API keys (`/v1/tenants/{id}/api-keys` for tenant keys, `/v1/api-keys` for platform keys)
 * `POST /v1/tokens`, which exchanges the calling key for a short-lived JWT, and
 * `GET /v1/principal`, which tells a data-plane app who an API key belongs to.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  PLATFORM_ROLES,
  TENANT_ROLES,
  mayGrant,
  type Role,
} from '../../access/index.js';
import { TenancyError, validationError } from '../../errors.js';
import { parseOrThrow } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

const keyName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100)
  .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII');
const expiresAt = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time' }).optional();

export const tenantKeySchema = z
  .strictObject({ name: keyName, role: z.enum(TENANT_ROLES), expiresAt })
  .meta({ id: 'NewTenantApiKey' });
export const platformKeySchema = z
  .strictObject({ name: keyName, role: z.enum(PLATFORM_ROLES), expiresAt })
  .meta({ id: 'NewPlatformApiKey' });
export const tokenRequestSchema = z
  .strictObject({
    ttlSeconds: z
      .number()
      .int('must be an integer')
      .min(60, 'must be >= 60')
      .max(MAX_TOKEN_TTL_SECONDS, `must be <= ${MAX_TOKEN_TTL_SECONDS}`)
      .optional(),
  })
  .meta({ id: 'TokenRequest' });

function expiry(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (date.getTime() <= Date.now())
    throw validationError('the key would already be expired', [
      { path: '/expiresAt', message: 'must be in the future' },
    ]);
  return date;
}

const keyIdParam = (raw: string) => {
  if (!/^[0-9a-z]{16}$/.test(raw))
    throw validationError(
      'not an API key id',
      [{ path: '/path/keyId', message: 'must be the 16-character id shown in the key prefix' }],
      'invalid_key_id',
    );
  return raw;
};

/** Register API-key and token routes. */
export function accessRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const { apiKeys } = deps.access;
  const checkGrant = (request: FastifyRequest, role: Role) => {
    const granter = request.principal!.role;
    if (!mayGrant(granter, role))
      throw new TenancyError('forbidden', `role ${granter} may not create a key with role ${role}`);
  };
  /** Create a key for `tenantId` (null: a platform key) and answer 201 with it and its one-time token. */
  const issueKey = async (
    request: FastifyRequest,
    reply: FastifyReply,
    body: { name: string; role: Role; expiresAt?: string | undefined },
    tenantId: string | null,
  ) => {
    const created = await apiKeys.create(actorOf(request), {
      name: body.name,
      role: body.role,
      tenantId,
      expiresAt: expiry(body.expiresAt),
    });
    return reply.code(201).send({ ...created.key, token: created.token });
  };

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/api-keys', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'apikey.create', id);
    const body = parseOrThrow(tenantKeySchema, request.body, 'the API key request');
    checkGrant(request, body.role);
    const phase = await deps.tenants.registry.phaseOf(id);
    if (phase === undefined) throw new TenancyError('tenant_not_found', `tenant ${id} not found`);
    if (phase === 'deleting' || phase === 'deleted')
      throw new TenancyError(`tenant_${phase}`, `cannot create keys for tenant ${id}: it is ${phase}`);
    return issueKey(request, reply, body, id);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/api-keys', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'apikey.list', id);
    await deps.tenants.registry.get(id);
    return { items: await apiKeys.list(id) };
  });

  app.delete<{ Params: { id: string; keyId: string } }>('/v1/tenants/:id/api-keys/:keyId', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'apikey.revoke', id);
    return apiKeys.revoke(actorOf(request), keyIdParam(request.params.keyId), id);
  });

  app.post('/v1/api-keys', async (request, reply) => {
    await guard.authorize(request, 'platform_apikey.manage');
    const body = parseOrThrow(platformKeySchema, request.body, 'the API key request');
    return issueKey(request, reply, body, null);
  });

  app.get('/v1/api-keys', async (request) => {
    await guard.authorize(request, 'platform_apikey.manage');
    return { items: await apiKeys.list(null) };
  });

  app.delete<{ Params: { keyId: string } }>('/v1/api-keys/:keyId', async (request) => {
    await guard.authorize(request, 'platform_apikey.manage');
    const keyId = keyIdParam(request.params.keyId);
    if (keyId === request.principal!.keyId)
      throw new TenancyError('cannot_revoke_self', 'a key cannot revoke itself; use another platform-admin key');
    return apiKeys.revoke(actorOf(request), keyId, null);
  });

  // Introspection for the SDK: any valid credential may learn its own principal (never
  // another's), so apps can resolve an opaque API key without holding the key store. The
  // tenant's phase is not checked here; the app refuses it from the tenant context.
  app.get('/v1/principal', async (request) => {
    const { keyId, role, tenantId, via } = request.principal!;
    return { keyId, role, tenantId, via };
  });

  app.post('/v1/tokens', async (request) => {
    const principal = await guard.authorize(request, 'token.create');
    if (principal.via !== 'api_key')
      throw new TenancyError('api_key_required', 'exchange an API key for a token, not a token');
    const body = parseOrThrow(tokenRequestSchema, request.body ?? {}, 'the token request');
    const plan = principal.tenantId === null ? null : (await deps.tenants.registry.get(principal.tenantId)).spec.plan;
    const issued = await deps.access.tokens.issue({
      keyId: principal.keyId,
      tenantId: principal.tenantId,
      role: principal.role,
      plan,
      ttlSeconds: body.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS,
    });
    return { token: issued.token, tokenType: 'Bearer', expiresAt: issued.expiresAt, claims: issued.claims };
  });
}
