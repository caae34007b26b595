/**
 * `POST /v1/apply`: a bundle of manifests, all or nothing, with `dryRun` for the plan.
 * YAML bodies (several documents) are accepted and become a bundle without sources. A bundle
 * that needs approval answers 202 with the pending approval and applies nothing.
 */
import type { FastifyInstance } from 'fastify';
import { applyBundle } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';
import { YamlDocuments } from '../yaml-body.js';

/** Register the apply route. */
export function applyRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.post<{ Querystring: { dryRun?: string } }>('/v1/apply', { bodyLimit: deps.applyBodyLimitBytes ?? 8 * 1024 * 1024 }, async (request, reply) => {
    await guard.authorize(request, 'tenant.apply');
    let body = request.body;
    if (body instanceof YamlDocuments) {
      body = { dryRun: request.query.dryRun === 'true', items: body.documents.map((manifest) => ({ manifest })) };
    }
    const result = await applyBundle(deps.registry, actorOf(request), body, { role: request.principal?.role });
    if (result.approval) {
      deps.onApprovalChange?.();
      return reply.code(202).header('Location', `/v1/approvals/${result.approval.id}`).send(result);
    }
    return result;
  });
}
