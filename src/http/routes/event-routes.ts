/**
 * `GET /v1/events`: replay the outbox as CloudEvents, oldest first, with `seq` as the
 * cursor. A tenant caller sees its own tenant's events only (naming another tenant is
 * 404); platform-wide events are for platform roles.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { pageLimit } from '../route-params.js';
import { eventHead, listEvents, toCloudEvent, TYPE_FILTER_PATTERN } from '../../ledger/index.js';
import { parseOrThrow, tenantIdSchema } from '../../tenants/index.js';
import type { Guard, HttpDeps } from '../context.js';

export const eventQuerySchema = z.strictObject({
  tenant: tenantIdSchema.optional(),
  type: z
    .string()
    .max(200, 'must be at most 200 characters')
    .regex(
      TYPE_FILTER_PATTERN,
      'must be *, a type such as tenancy.tenant.created, or a prefix such as tenancy.tenant.*',
    )
    .optional(),
  after: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').optional(),
  limit: pageLimit(1000, 100),
});

/** Register event routes. */
export function eventRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.get('/v1/events', async (request) => {
    const principal = await guard.authorize(request, 'event.read');
    const q = parseOrThrow(eventQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    if (principal.tenantId !== null && q.tenant !== undefined && q.tenant !== principal.tenantId) {
      // Audited 404, exactly like a tenant that does not exist.
      await guard.authorize(request, 'event.read', q.tenant);
    }
    const tenantId = principal.tenantId ?? q.tenant ?? guard.scopeOf(request, principal);
    const events = await listEvents(deps.store.db, { afterSeq: q.after ?? 0, limit: q.limit, tenantId, type: q.type });
    const last = events[events.length - 1];
    const page = {
      items: events.map((e) => toCloudEvent(e, deps.ledger.eventSource)),
      next: events.length === q.limit && last ? last.seq : null,
    };
    // A reader starting afresh (no cursor) also learns where the history it may see ends now,
    // so it can follow from there without replaying it all.
    return q.after === undefined ? { ...page, head: await eventHead(deps.store.db, tenantId) } : page;
  });
}
