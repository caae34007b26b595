/**
 * `GET /v1/audit` (a tenant caller sees only its tenant's records) and `GET /v1/audit/verify`.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow, tenantIdSchema } from '../../tenants/index.js';
import type { Guard, HttpDeps } from '../context.js';

const datetime = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time' });

export const auditQuerySchema = z.strictObject({
  tenant: tenantIdSchema.optional(),
  actor: z.string().min(1).max(200).optional(),
  action: z.string().regex(/^[a-z_]+(\.[a-z_]+)*$/, 'must be an action such as tenant.create').optional(),
  since: datetime.optional(),
  until: datetime.optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int('must be an integer').min(1, 'must be 1..1000').max(1000, 'must be 1..1000').default(100),
});

/** Register audit routes. */
export function auditRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.get('/v1/audit', async (request) => {
    const principal = await guard.authorize(request, 'audit.read');
    const q = parseOrThrow(auditQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    const scope = guard.scopeOf(request, principal);
    if (principal.tenantId !== null && q.tenant !== undefined && q.tenant !== principal.tenantId) {
      await guard.authorize(request, 'audit.read', q.tenant);
    }
    const tenantId = principal.tenantId ?? q.tenant ?? scope;
    const items = await deps.audit.list({
      tenantId,
      actor: q.actor,
      action: q.action,
      since: q.since ? new Date(q.since) : undefined,
      until: q.until ? new Date(q.until) : undefined,
      afterSeq: q.after,
      limit: q.limit,
    });
    const last = items[items.length - 1];
    return { items, next: items.length === q.limit && last ? last.seq : null };
  });

  app.get('/v1/audit/verify', async (request) => {
    await guard.authorize(request, 'audit.verify');
    return deps.audit.verify();
  });
}
