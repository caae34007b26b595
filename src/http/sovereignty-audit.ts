/**
 * Every request refused on data-sovereignty grounds (422 `sovereignty_violation` or
 * `encryption_mismatch`, 409 `retention_violation`, from any route) leaves a `denied` audit
 * record `sovereignty.refuse` for each tenant it concerns, with the violated rules, before
 * the refusal is answered. The tenant is the tenant credential's, else the path's, else
 * `X-Tenant-ID`'s, else, for a bundle, that of each item a violation points at.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  isSovereigntyRefusal,
  refusalViolations,
  SOVEREIGNTY_REFUSAL_ACTION,
  type RecordedViolation,
} from '../governance/index.js';
import { tenantIdSchema } from '../tenants/index.js';
import { actorOf, type HttpDeps } from './context.js';
import { YamlDocuments } from './yaml-body.js';

const validId = (value: unknown): string | undefined =>
  typeof value === 'string' && tenantIdSchema.safeParse(value).success ? value : undefined;

/** The tenant a bundle item's manifest names (`metadata.id` of a Tenant, `metadata.tenant` of a document). */
function itemTenant(request: FastifyRequest, index: number): string | undefined {
  const body = request.body;
  const items: unknown[] | undefined =
    body instanceof YamlDocuments
      ? body.documents.map((manifest) => ({ manifest }))
      : Array.isArray((body as { items?: unknown } | null)?.items)
        ? (body as { items: unknown[] }).items
        : undefined;
  const m = (items?.[index] as { manifest?: { kind?: unknown; metadata?: { id?: unknown; tenant?: unknown } } })
    ?.manifest;
  return validId(m?.kind === 'Tenant' ? m.metadata?.id : m?.metadata?.tenant);
}

/** The violations of the refusal grouped by the tenant each concerns (`null`: none could be told). */
function byTenant(request: FastifyRequest, violations: RecordedViolation[]): Map<string | null, RecordedViolation[]> {
  const pathTenant = request.routeOptions.url?.startsWith('/v1/tenants/:id')
    ? validId((request.params as { id?: unknown }).id)
    : undefined;
  const single = validId(request.principal?.tenantId) ?? pathTenant ?? validId(request.headers['x-tenant-id']);
  const out = new Map<string | null, RecordedViolation[]>();
  for (const v of violations) {
    const item = /^\/items\/([0-9]+)(\/|$)/.exec(v.path);
    const tenant = single ?? (item ? itemTenant(request, Number(item[1])) : undefined) ?? null;
    out.set(tenant, [...(out.get(tenant) ?? []), v]);
  }
  return out;
}

/** Register the hook that audits refusals on data-sovereignty grounds. */
export function auditSovereigntyRefusals(app: FastifyInstance, deps: HttpDeps): void {
  app.addHook('onError', async (request, _reply, error) => {
    if (!isSovereigntyRefusal(error)) return;
    const path = request.url.split('?')[0]!;
    try {
      for (const [tenantId, violations] of byTenant(request, refusalViolations(error)))
        await deps.ledger.audit.record(actorOf(request), {
          action: SOVEREIGNTY_REFUSAL_ACTION,
          target: request.routeOptions.url ?? path,
          tenantId,
          outcome: 'denied',
          details: { code: error.code, method: request.method, path, violations },
        });
    } catch (cause) {
      request.log.error({ err: cause }, 'could not audit a data-sovereignty refusal');
    }
  });
}
