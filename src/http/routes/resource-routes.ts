/**
 * `GET /v1/tenants/{id}/resources`: the resources the tenant's isolation strategy names,
 * and the Kubernetes objects that isolate its compute and network (a plan to export).
 */
import type { FastifyInstance } from 'fastify';
import { computePlan, strategyFor } from '../../isolation/index.js';
import type { Guard, HttpDeps } from '../context.js';

/** Register the resource-plan route. */
export function resourceRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.get<{ Params: { id: string } }>('/v1/tenants/:id/resources', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'tenant.read', id);
    const ctx = await deps.registry.context(id);
    const isolation = { tenantId: ctx.id, profile: ctx.profile, region: ctx.region, plan: ctx.plan, quotas: ctx.quotas };
    const plan = strategyFor(ctx.profile).resources(isolation);
    return { tenant: id, profile: ctx.profile, ...plan, kubernetes: computePlan(isolation, plan) };
  });
}
