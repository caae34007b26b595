/**
 * `GET /v1/audit` (a tenant caller sees only its tenant's records), `GET /v1/audit/verify`,
 * and `POST /v1/tenants/{id}/audit-events`, where the platform's apps append their own
 * events (an invoice paid, a document shared) to a tenant's stream in the same hash chain.
 * A tenant credential writes only into its own tenant's stream: another id answers 404.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { TenancyError } from '../../errors.js';
import { parseOrThrow, tenantIdSchema } from '../../tenants/index.js';
import { actorOf, tenantIdParam, type Guard, type HttpDeps } from '../context.js';

/** Largest `details` object an app event may carry, as JSON. */
export const APP_AUDIT_DETAILS_MAX_BYTES = 8_192;

export const appAuditEventSchema = z
  .strictObject({
    action: z
      .string()
      .max(100, 'must be at most 100 characters')
      .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,7}$/, 'must be dot-separated lowercase words such as invoice.paid'),
    target: z
      .string()
      .min(1, 'must not be empty')
      .max(300, 'must be at most 300 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces, such as invoice/inv-42'),
    outcome: z
      .enum(['success', 'denied', 'failure'], { error: 'must be success, denied or failure' })
      .default('success'),
    subject: z
      .string()
      .min(1)
      .max(200, 'must be at most 200 characters')
      .optional()
      .describe("who in the app did it (the caller's key id or user id)"),
    details: z
      .record(z.string(), z.unknown())
      .refine(
        (d) => JSON.stringify(d).length <= APP_AUDIT_DETAILS_MAX_BYTES,
        `must be at most ${APP_AUDIT_DETAILS_MAX_BYTES} bytes as JSON`,
      )
      .optional(),
  })
  .meta({
    id: 'AppAuditEvent',
    description: "An app event for the tenant's audit stream; stored with action app.<action>.",
  });

const datetime = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time' });

export const auditQuerySchema = z.strictObject({
  tenant: tenantIdSchema.optional(),
  actor: z.string().min(1).max(200).optional(),
  action: z
    .string()
    .regex(/^[a-z_]+(\.[a-z_]+)*$/, 'must be an action such as tenant.create')
    .optional(),
  since: datetime.optional(),
  until: datetime.optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce
    .number()
    .int('must be an integer')
    .min(1, 'must be 1..1000')
    .max(1000, 'must be 1..1000')
    .default(100),
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
    const items = await deps.ledger.audit.list({
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

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/audit-events', async (request, reply) => {
    const id = tenantIdParam(request.params.id);
    await guard.authorize(request, 'audit.write', id);
    const body = parseOrThrow(appAuditEventSchema, request.body, 'the audit event');
    const phase = await deps.tenants.registry.phaseOf(id);
    if (phase === undefined) throw new TenancyError('tenant_not_found', `tenant ${id} not found`);
    if (phase === 'deleting' || phase === 'deleted')
      throw new TenancyError(`tenant_${phase}`, `tenant ${id} is ${phase}; its audit stream takes no new events`);
    const record = await deps.ledger.audit.recordAppEvent(actorOf(request), id, body);
    return reply.code(201).send(record);
  });

  app.get('/v1/audit/verify', async (request) => {
    await guard.authorize(request, 'audit.verify');
    return deps.ledger.audit.verify();
  });
}
