/**
 * `POST /v1/apply`: a bundle of manifests, all or nothing, with `dryRun` for the plan.
 * YAML bodies (several documents) are accepted and become a bundle without sources. A bundle
 * that needs approval answers 202 with the pending approval and applies nothing.
 */
import type { FastifyInstance } from 'fastify';
import type { PolicyService, PreparedPolicy } from '../../governance/index.js';
import { applyBundle, type DocumentCommitter } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';
import { YamlDocuments } from '../yaml-body.js';

/** Register the apply route. */
export function applyRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.post<{ Querystring: { dryRun?: string } }>(
    '/v1/apply',
    { bodyLimit: deps.server.applyBodyLimitBytes ?? 8 * 1024 * 1024 },
    async (request, reply) => {
      await guard.authorize(request, 'tenant.apply');
      let body = request.body;
      if (body instanceof YamlDocuments) {
        body = { dryRun: request.query.dryRun === 'true', items: body.documents.map((manifest) => ({ manifest })) };
      }
      const result = await applyBundle(deps.tenants.registry, actorOf(request), body, {
        role: request.principal?.role,
        committers: { TenantPolicy: policyCommitter(deps.governance.policies) },
      });
      if (result.approval) {
        deps.governance.onApprovalChange?.();
        return reply.code(202).header('Location', `/v1/approvals/${result.approval.id}`).send(result);
      }
      return result;
    },
  );
}

/** `TenantPolicy` documents go through the policy service's four stages, not into the plain document store. */
function policyCommitter(policies: PolicyService): DocumentCommitter {
  return {
    prepare: (doc, tenantSpec) =>
      policies.prepare(doc.tenant, { name: doc.name, ...doc.spec }, { source: doc.source ?? 'apply', tenantSpec }),
    commit: async (trx, actor, prepared) => {
      const result = await policies.commitPrepared(trx, actor, prepared as PreparedPolicy, {
        source: (prepared as PreparedPolicy).source,
      });
      return !result.committed ? 'unchanged' : result.policy.version === 1 ? 'create' : 'update';
    },
    committed: (tenantIds) => {
      for (const id of tenantIds) policies.invalidate(id);
    },
  };
}
