/**
 * SLOs and SLIs:
 *
 * - `GET /v1/tenants/{id}/slos`, `GET /v1/tenants/{id}/slos/{name}`: status now (SLI, error
 *   budget, burn rates, alerts) and the tenant's freeze;
 * - `POST /v1/tenants/{id}/slis`: SLI events measured outside the control plane;
 * - `POST /v1/slis`: minute buckets aggregated by an SDK, for the tenants its key may write.
 *
 * And the freeze override: a request carrying `Tenancy-Freeze-Override: <reason>` must come
 * from a role that may override a freeze (`slo.freeze_override`: a tenant's owner or a
 * platform admin), whatever it asks for; otherwise 403 `forbidden`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { can } from '../../access/index.js';
import { TenancyError, validationError } from '../../errors.js';
import { sliBatchSchema, sliBucketsSchema } from '../../slo/sli-schema.js';
import { parseOrThrow } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

export const FREEZE_OVERRIDE_HEADER = 'tenancy-freeze-override';

declare module 'fastify' {
  interface FastifyRequest {
    /** The reason a caller gave to change a frozen tenant (checked: it may override). */
    freezeOverride: string | undefined;
  }
}

/** The override a request carries, checked against the caller's role (in the server's onRequest hook). */
export async function checkFreezeOverride(request: FastifyRequest, deps: HttpDeps): Promise<void> {
  const raw = request.headers[FREEZE_OVERRIDE_HEADER];
  if (raw === undefined) return;
  const reason = (Array.isArray(raw) ? raw.join(', ') : raw).trim();
  if (reason === '' || reason.length > 500)
    throw validationError(
      'the freeze override needs a reason',
      [{ path: '/header/tenancy-freeze-override', message: 'must be a reason of 1..500 characters' }],
      'validation_failed',
    );
  const principal = request.principal;
  if (principal && !can(principal.role, 'slo.freeze_override')) {
    await deps.ledger.audit.record(actorOf(request), {
      action: 'slo.freeze_override',
      target: request.url.split('?')[0]!,
      tenantId: principal.tenantId,
      outcome: 'denied',
      details: { role: principal.role, reason, method: request.method },
    });
    throw new TenancyError(
      'forbidden',
      `role ${principal.role} may not override an error-budget freeze (a tenant owner or a platform admin may)`,
      { extensions: { role: principal.role, action: 'slo.freeze_override' } },
    );
  }
  request.freezeOverride = reason;
}

/** Register the SLO routes and the override check. */
export function sloRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const slo = () => deps.slo.service;

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/slos', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'slo.read', id);
    return { tenantId: id, items: await slo().status(id), freeze: await slo().freeze(id) };
  });

  app.get<{ Params: { id: string; name: string } }>('/v1/tenants/:id/slos/:name', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'slo.read', id);
    if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(request.params.name))
      throw validationError(
        'not a valid SLO name',
        [{ path: '/path/name', message: 'must be a lowercase name of letters, digits, "." and "-"' }],
        'invalid_identifier',
      );
    const [status] = await slo().status(id, request.params.name);
    return status;
  });

  app.post<{ Params: { id: string } }>(
    '/v1/tenants/:id/slis',
    { bodyLimit: 4 * 1024 * 1024 },
    async (request, reply) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'sli.write', id);
      const body = parseOrThrow(sliBatchSchema, request.body, 'the SLI batch');
      await deps.tenants.registry.get(id);
      for (const e of body.events)
        slo().record(id, e.source, {
          ok: e.outcome === 'success',
          latencyMs: e.latencyMs,
          ...(e.costUsd !== undefined ? { costMicros: Math.round(e.costUsd * 1e6) } : {}),
          at: Date.parse(e.ts),
        });
      return reply.code(202).send({ accepted: body.events.length });
    },
  );

  app.post('/v1/slis', { bodyLimit: 8 * 1024 * 1024 }, async (request, reply) => {
    const principal = await guard.authorize(request, 'sli.write');
    const body = parseOrThrow(sliBucketsSchema, request.body, 'the SLI buckets');
    // A tenant key writes only its own tenant's; every tenant named must exist.
    const tenants = [...new Set(body.buckets.map((b) => b.tenantId))];
    for (const [i, b] of body.buckets.entries())
      if (principal.tenantId !== null && b.tenantId !== principal.tenantId)
        throw validationError(
          'a tenant key writes only its own tenant',
          [{ path: `/buckets/${i}/tenantId`, message: 'must be the key’s tenant' }],
          'validation_failed',
        );
    for (const t of tenants) await deps.tenants.registry.get(t);
    slo().slis.add(
      body.buckets.map((b) => ({
        tenantId: b.tenantId,
        source: b.source,
        minute: Date.parse(b.minute) - (Date.parse(b.minute) % 60_000),
        total: b.total,
        errors: Math.min(b.errors, b.total),
        latency: b.latency,
        cost: b.cost ?? [],
        costMicros: b.costMicros ?? 0,
      })),
    );
    return reply.code(202).send({ accepted: body.buckets.length });
  });
}
