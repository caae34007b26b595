/**
 * Tenant secrets (`/v1/tenants/{id}/secrets`), the tenant key ring (`.../keys`), and root
 * key rotation. Secret values appear only in the PUT body and the GET response.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { TenancyError } from '../../errors.js';
import { sovereigntyRefusal, transitViolations } from '../../governance/index.js';
import { KeyAdmin, MAX_SECRET_BYTES, secretName } from '../../keys/index.js';
import { parseOrThrow } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

export const putSecretSchema = z
  .strictObject({
    value: z.string().max(MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} characters`),
    rotationPeriodDays: z
      .number()
      .int('must be an integer')
      .min(1, 'must be >= 1')
      .max(3650, 'must be <= 3650')
      .optional(),
  })
  .meta({ id: 'PutSecret' });
export const retireSchema = z
  .strictObject({ minVersion: z.number().int('must be an integer').min(1, 'must be >= 1') })
  .meta({ id: 'RetireKeys' });
const versionQuery = z.strictObject({
  version: z.coerce.number().int('must be an integer').min(1, 'must be >= 1').optional(),
});

/** Register secret and key routes. */
export function keyRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const { secrets, keyRing } = deps.keys;
  const { registry } = deps.tenants;
  const admin = new KeyAdmin(deps.store.db, keyRing, deps.ledger.audit);
  /** Secrets and keys change only while the tenant's keys can still exist. */
  const writable = async (id: string) => {
    const phase = await registry.phaseOf(id);
    if (phase === undefined) throw new TenancyError('tenant_not_found', `tenant ${id} not found`);
    if (phase === 'deleting' || phase === 'deleted')
      throw new TenancyError(`tenant_${phase}`, `tenant ${id} is ${phase}; its keys and secrets cannot change`);
  };

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/secrets', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'secret.list', id);
    await registry.get(id);
    return { items: await secrets.list(id) };
  });

  app.put<{ Params: { id: string; name: string } }>('/v1/tenants/:id/secrets/:name', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'secret.write', id);
    const name = secretName(request.params.name);
    const body = parseOrThrow(putSecretSchema, request.body, 'the secret');
    await writable(id);
    // The st-byoc database URL carries the tenant's data: with encryption.inTransit it must require TLS.
    const tenant = await registry.get(id);
    if (tenant.spec.byoc?.databaseSecret === name) {
      const violations = (await registry.sovereigntyRules(deps.store.db, id)).flatMap((rules) =>
        transitViolations(rules, body.value),
      );
      if (violations.length > 0)
        throw sovereigntyRefusal(violations, () => '/value', `the database URL in secret ${name}`);
    }
    const stored = await secrets.put(actorOf(request), id, name, body.value, body.rotationPeriodDays ?? null);
    return reply.code(stored.version === 1 ? 201 : 200).send(stored);
  });

  app.get<{ Params: { id: string; name: string } }>('/v1/tenants/:id/secrets/:name', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'secret.read', id);
    const name = secretName(request.params.name);
    const { version } = parseOrThrow(versionQuery, request.query, 'the query', ['query'], 'invalid_query');
    await registry.get(id);
    return reply.header('Cache-Control', 'no-store').send(await secrets.read(actorOf(request), id, name, version));
  });

  app.delete<{ Params: { id: string; name: string } }>('/v1/tenants/:id/secrets/:name', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'secret.write', id);
    const name = secretName(request.params.name);
    await writable(id);
    return { name, deletedVersions: await secrets.remove(actorOf(request), id, name) };
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/keys', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'key.read', id);
    await registry.get(id);
    return { items: await keyRing.versions(id) };
  });

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/keys/rotate', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'key.rotate', id);
    await writable(id);
    return admin.rotate(actorOf(request), id);
  });

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/keys/rewrap', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'key.rotate', id);
    await writable(id);
    return secrets.rewrap(actorOf(request), id);
  });

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/keys/retire', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'key.rotate', id);
    const body = parseOrThrow(retireSchema, request.body, 'the request');
    await writable(id);
    return admin.retire(actorOf(request), id, body.minVersion);
  });

  app.post('/v1/root-key/rotate', async (request) => {
    await guard.authorize(request, 'root_key.rotate');
    return admin.rotateRoot(actorOf(request), deps.keys.rootKeyFile);
  });
}
