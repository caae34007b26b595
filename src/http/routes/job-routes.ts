/**
 * Jobs (`GET /v1/jobs`, `GET /v1/jobs/{id}`) and migration runs (`POST /v1/migrations`,
 * `GET /v1/tenants/{id}/migrations`). A tenant caller sees only its own tenant's jobs.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow, tenantIdSchema } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

const version = z.string().regex(/^\d{1,12}$/, 'must be a migration version (digits)');
const percent = z
  .union([z.number(), z.string().regex(/^\d{1,3}%?$/, 'must be a percentage such as 10%')])
  .transform((v) => Number(String(v).replace('%', '')));

export const migrationRunSchema = z
  .strictObject({
    to: version.optional(),
    waves: z
      .array(
        percent.pipe(z.number().int('must be a whole percentage').min(1, 'must be 1..100').max(100, 'must be 1..100')),
      )
      .min(1, 'must name at least one wave')
      .max(20, 'must name at most 20 waves')
      .refine((w) => w.every((p, i) => i === 0 || p > w[i - 1]!), 'must increase, such as 10%, 50%, 100%')
      .refine((w) => w[w.length - 1] === 100, 'must end at 100%')
      .optional(),
    concurrency: z.number().int('must be an integer').min(1, 'must be 1..64').max(64, 'must be 1..64').optional(),
    tenants: z.array(tenantIdSchema).min(1).max(10_000).optional(),
  })
  .meta({ id: 'MigrationRun' });

export const jobsQuerySchema = z.strictObject({
  tenant: tenantIdSchema.optional(),
  kind: z
    .string()
    .regex(/^[a-z][a-z-]{0,30}$/, 'must be a job kind such as migrate')
    .optional(),
  state: z.enum(['queued', 'running', 'succeeded', 'failed']).optional(),
  limit: z.coerce.number().int('must be an integer').min(1, 'must be 1..500').max(500, 'must be 1..500').default(50),
});

/** Register job and migration routes. */
export function jobRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.get('/v1/jobs', async (request) => {
    const principal = await guard.authorize(request, 'job.read');
    const q = parseOrThrow(jobsQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    if (principal.tenantId !== null && q.tenant !== undefined) await guard.authorize(request, 'job.read', q.tenant);
    const tenantId = principal.tenantId ?? q.tenant ?? guard.scopeOf(request, principal);
    return { items: await deps.controller.jobs.list({ tenantId, kind: q.kind, state: q.state, limit: q.limit }) };
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (request) => {
    const principal = await guard.authorize(request, 'job.read');
    return deps.controller.jobs.get(request.params.id, principal.tenantId ?? undefined);
  });

  app.post('/v1/migrations', async (request, reply) => {
    await guard.authorize(request, 'migration.run');
    const body = parseOrThrow(migrationRunSchema, request.body ?? {}, 'the migration run');
    // A wave that includes a tenant whose error budget is exhausted is refused (or overridden, audited).
    const frozen = await deps.slo.service.frozenTenants(body.tenants);
    for (const t of frozen)
      await deps.slo.service.check(undefined, actorOf(request), t, ['migration'], request.freezeOverride);
    const job = await deps.controller.migrations().start(actorOf(request), body);
    return reply.code(202).header('Location', `/v1/jobs/${job.id}`).send(job);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/migrations', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'tenant.read', id);
    await deps.tenants.registry.get(id);
    return { tenantId: id, items: await deps.controller.migrations().applied(id) };
  });
}
