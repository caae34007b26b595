/**
 * `POST /v1/apply`: a bundle of manifests, all or nothing, with `dryRun` for the plan.
 * YAML bodies (several documents) are accepted and become a bundle without sources.
 */
import type { FastifyInstance } from 'fastify';
import { applyBundle } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';
import { YamlDocuments } from '../yaml-body.js';

/** Register the apply route. */
export function applyRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.post<{ Querystring: { dryRun?: string } }>('/v1/apply', { bodyLimit: deps.applyBodyLimitBytes ?? 8 * 1024 * 1024 }, async (request) => {
    await guard.authorize(request, 'tenant.apply');
    let body = request.body;
    if (body instanceof YamlDocuments) {
      body = { dryRun: request.query.dryRun === 'true', items: body.documents.map((manifest) => ({ manifest })) };
    }
    return applyBundle(deps.registry, actorOf(request), body);
  });
}
