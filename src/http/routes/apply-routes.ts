/**
 * `POST /v1/apply`: a bundle of manifests, all or nothing, with `dryRun` for the plan.
 * YAML bodies (several documents) are accepted and become a bundle without sources. A bundle
 * that needs approval answers 202 with the pending approval and applies nothing.
 */
import type { FastifyInstance } from 'fastify';
import type { PolicyService, PreparedPolicy } from '../../governance/index.js';
import { TenancyError } from '../../errors.js';
import { applyBundle, type DocumentCommitter } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';
import { YamlDocuments } from '../yaml-body.js';

/** Register the apply route. */
export function applyRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.post<{ Querystring: { dryRun?: string } }>(
    '/v1/apply',
    { bodyLimit: deps.server.applyBodyLimitBytes ?? 8 * 1024 * 1024 },
    async (request, reply) => {
      let body = request.body;
      if (body instanceof YamlDocuments) {
        body = { dryRun: request.query.dryRun === 'true', items: body.documents.map((manifest) => ({ manifest })) };
      }
      const { providers, rest } = splitProviders(body);
      if (providers.length > 0) await guard.authorize(request, 'model_provider.manage');
      if (rest !== undefined) await guard.authorize(request, 'tenant.apply');
      const dryRun = (body as { dryRun?: unknown } | null)?.dryRun === true;
      // Platform documents (the model catalogue) first, validated with the rest before either is written.
      const parsedProviders = providers.length > 0 ? deps.ai.catalogue.parse(providers) : [];
      if (parsedProviders.length > 0 && rest !== undefined && !dryRun)
        await renumbered(rest, () =>
          applyBundle(
            deps.tenants.registry,
            actorOf(request),
            { ...rest.body, dryRun: true },
            { role: request.principal?.role, committers: committers(deps) },
          ),
        );
      const providerPlan =
        parsedProviders.length > 0 ? await deps.ai.catalogue.apply(actorOf(request), parsedProviders, dryRun) : [];
      if (rest === undefined) return { dryRun, applied: !dryRun, items: providerPlan };
      const result = await renumbered(rest, () =>
        applyBundle(deps.tenants.registry, actorOf(request), rest.body, {
          role: request.principal?.role,
          committers: committers(deps),
          freezeOverride: request.freezeOverride,
        }),
      );
      const merged = { ...result, items: [...providerPlan, ...result.items] };
      if (result.approval) {
        deps.governance.onApprovalChange?.();
        return reply.code(202).header('Location', `/v1/approvals/${result.approval.id}`).send(merged);
      }
      return merged;
    },
  );
}

function committers(deps: HttpDeps) {
  return { TenantPolicy: policyCommitter(deps.governance.policies) };
}

/** The bundle's `ModelProvider` items (with their indexes), and the bundle without them (undefined when nothing is left). */
function splitProviders(body: unknown): {
  providers: Array<{ index: number; manifest: unknown; source?: string }>;
  rest: { body: Record<string, unknown>; indexes: number[] } | undefined;
} {
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return { providers: [], rest: { body: body as Record<string, unknown>, indexes: [] } };
  const providers: Array<{ index: number; manifest: unknown; source?: string }> = [];
  const others: unknown[] = [];
  const indexes: number[] = [];
  items.forEach((item, index) => {
    const manifest = (item as { manifest?: { kind?: unknown } } | null)?.manifest;
    if (manifest?.kind === 'ModelProvider')
      providers.push({ index, ...(item as { manifest: unknown; source?: string }) });
    else {
      others.push(item);
      indexes.push(index);
    }
  });
  if (providers.length > 0 && others.length === 0) return { providers, rest: undefined };
  return { providers, rest: { body: { ...(body as Record<string, unknown>), items: others }, indexes } };
}

/** Run `fn` on the bundle without its providers; field errors name the items by their place in the whole bundle. */
async function renumbered<T>(rest: { indexes: number[] }, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof TenancyError && rest.indexes.length > 0)
      for (const e of error.errors ?? [])
        e.path = e.path.replace(/^\/items\/(\d+)/, (_, i: string) => `/items/${rest.indexes[Number(i)] ?? i}`);
    throw error;
  }
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
