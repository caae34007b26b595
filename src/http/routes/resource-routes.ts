/**
 * `GET /v1/tenants/{id}/resources`: the resources the tenant's isolation strategy names,
 * and the Kubernetes objects that isolate its compute and network (a plan to export).
 */
import type { FastifyInstance } from 'fastify';
import { computePlan, isolationContext, strategyFor } from '../../isolation/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';
import { TenancyError } from '../../errors.js';
import { z } from 'zod';
import { parseOrThrow, tenantIdSchema } from '../../tenants/index.js';

const connectionQuery = z.strictObject({ env: tenantIdSchema.optional() });

/** Register the resource-plan route. */
export function resourceRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.get<{ Params: { id: string } }>('/v1/tenants/:id/resources', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'tenant.read', id);
    const tenant = await deps.tenants.registry.get(id);
    const isolation = isolationContext(id, tenant.spec, tenant.status.placement?.profile);
    const plan = strategyFor(isolation.profile).resources(isolation);
    return { tenant: id, profile: isolation.profile, ...plan, kubernetes: computePlan(isolation, plan) };
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/connection', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'connection.read', id);
    const { env } = parseOrThrow(connectionQuery, request.query, 'the query', ['query'], 'invalid_query');
    const tenant = await deps.tenants.registry.get(id);
    const environment = env ?? tenant.spec.environments[0]!;
    if (!tenant.spec.environments.includes(environment)) {
      throw new TenancyError(
        'environment_not_found',
        `tenant ${id} has no environment ${environment} (it has ${tenant.spec.environments.join(', ')})`,
        { errors: [{ path: '/query/env', message: 'must be one of the tenant environments' }] },
      );
    }
    const phase = tenant.status.phase;
    if (phase !== 'active')
      throw new TenancyError(
        `tenant_${phase}`,
        `tenant ${id} is ${phase}; its connection is available while it is active`,
      );
    const isolation = isolationContext(id, tenant.spec, tenant.status.placement?.profile);
    const plan = strategyFor(isolation.profile).resources(isolation);
    const database = await deps.isolation.resources().databases.connection(isolation);
    await deps.ledger.audit.record(actorOf(request), {
      action: 'tenant.connection.read',
      target: `tenant/${id}/connection`,
      tenantId: id,
      outcome: 'success',
      details: { role: database.role },
    });
    return reply.header('Cache-Control', 'no-store').send({
      tenantId: id,
      environment,
      region: isolation.region,
      strategy: plan.strategy,
      database,
      objects: plan.objects,
      queue: plan.queue,
    });
  });
}
