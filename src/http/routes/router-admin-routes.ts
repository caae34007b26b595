/**
 * The model router's administration:
 *
 * - `GET /v1/tenants/{id}/router`: budgets (limit, spent, held per window), breaker states,
 *   whether the tenant is downgraded;
 * - `GET /v1/model-providers`, `GET|DELETE /v1/model-providers/{name}`: the model catalogue
 *   (written by `POST /v1/apply` with `kind: ModelProvider`);
 * - `PUT /v1/platform-secrets/{name}`, `GET /v1/platform-secrets`: platform secrets (provider
 *   API keys); values go in and never come out.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PROVIDER_NAME, routerStatus } from '../../ai/index.js';
import { validationError } from '../../errors.js';
import { MAX_SECRET_BYTES, secretName } from '../../keys/index.js';
import { parseOrThrow } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

export const putPlatformSecretSchema = z
  .strictObject({ value: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(MAX_SECRET_BYTES) })
  .meta({ id: 'PlatformSecretPut' });

function providerName(raw: string): string {
  if (!PROVIDER_NAME.test(raw))
    throw validationError(
      'not a valid provider name',
      [{ path: '/path/name', message: 'must be a lowercase name' }],
      'invalid_identifier',
    );
  return raw;
}

/** Register the router administration routes. */
export function routerAdminRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.get<{ Params: { id: string } }>('/v1/tenants/:id/router', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'router.read', id);
    return routerStatus(deps.ai.router, id);
  });

  app.get('/v1/model-providers', async (request) => {
    await guard.authorize(request, 'model_provider.read');
    return { items: await deps.ai.catalogue.list() };
  });

  app.get<{ Params: { name: string } }>('/v1/model-providers/:name', async (request) => {
    await guard.authorize(request, 'model_provider.read');
    return deps.ai.catalogue.get(providerName(request.params.name));
  });

  app.delete<{ Params: { name: string } }>('/v1/model-providers/:name', async (request, reply) => {
    await guard.authorize(request, 'model_provider.manage');
    await deps.ai.catalogue.delete(actorOf(request), providerName(request.params.name));
    return reply.code(204).send();
  });

  app.put<{ Params: { name: string } }>('/v1/platform-secrets/:name', async (request, reply) => {
    await guard.authorize(request, 'platform_secret.manage');
    const name = secretName(request.params.name);
    const body = parseOrThrow(putPlatformSecretSchema, request.body, 'the secret');
    const stored = await deps.ai.platformSecrets.put(actorOf(request), name, body.value);
    return reply.code(stored.version === 1 ? 201 : 200).send(stored);
  });

  app.get('/v1/platform-secrets', async (request) => {
    await guard.authorize(request, 'platform_secret.manage');
    return { items: await deps.ai.platformSecrets.list() };
  });
}
