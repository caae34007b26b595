/**
 * Usage, quotas and tenant objects:
 *
 * - `POST /v1/tenants/{id}/usage`, `POST /v1/usage`: record meters (idempotent by id);
 * - `GET /v1/tenants/{id}/usage`: hourly or daily series with totals;
 * - `GET /v1/usage/report`, `GET /v1/tenants/{id}/usage/report`: the monthly
 *   cost-allocation report as JSON or CSV (`?format=csv` or `Accept: text/csv`);
 * - `GET /v1/tenants/{id}/quotas` and reserve, release and set of counted quotas;
 * - `/v1/tenants/{id}/objects[/{key}]`: the tenant's objects, with the storage quota.
 *
 * A tenant caller reaches only its own tenant; any other id answers 404.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { pageLimit } from '../route-params.js';
import {
  COUNTED_QUOTAS,
  monthOf,
  reportCsv,
  RESOURCE_PATTERN,
  tenantUsageBatchSchema,
  usageBatchSchema,
  type CountedQuota,
  type CostReport,
} from '../../commercial/index.js';
import { notFound, validationError } from '../../errors.js';
import { parseOrThrow, tenantIdSchema } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

/** Largest object body `PUT /v1/tenants/{id}/objects/{key}` accepts (bytes). */
export const OBJECT_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Longest span per granularity (744 hourly or 400 daily buckets per resource). */
const MAX_SPAN_MS = { hour: 31 * DAY_MS, day: 400 * DAY_MS } as const;
const dateTime = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 date-time such as 2026-11-01T00:00:00Z' });
const monthSchema = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month such as 2026-11');
const formatSchema = z.enum(['json', 'csv'], { error: 'must be json or csv' });

/** `GET /v1/tenants/{id}/usage` query. */
export const usageQuerySchema = z.strictObject({
  from: dateTime.optional(),
  to: dateTime.optional(),
  granularity: z.enum(['hour', 'day'], { error: 'must be hour or day' }).default('hour'),
  resource: z.string().regex(RESOURCE_PATTERN, 'must be a resource name such as requests').optional(),
});
/** `GET /v1/usage/report` query. */
export const reportQuerySchema = z.strictObject({
  month: monthSchema.optional(),
  format: formatSchema.optional(),
  tenant: tenantIdSchema.optional(),
});
/** `GET /v1/tenants/{id}/usage/report` query. */
export const tenantReportQuerySchema = z.strictObject({
  month: monthSchema.optional(),
  format: formatSchema.optional(),
});
/** Body of reserve and release. */
export const quotaAmountSchema = z
  .strictObject({
    amount: z
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(1, 'must be 1..1000000')
      .max(1_000_000, 'must be 1..1000000')
      .default(1),
  })
  .meta({ id: 'QuotaAmount' });
/** Body of `PUT /v1/tenants/{id}/quotas/{quota}`. */
export const quotaSetSchema = z
  .strictObject({
    current: z
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(0, 'must be >= 0')
      .max(1e12, 'must be <= 1e12'),
  })
  .meta({ id: 'QuotaSet' });
/** `GET /v1/tenants/{id}/objects` query. */
export const objectListQuerySchema = z.strictObject({
  prefix: z.string().max(1024, 'must be at most 1024 characters').optional(),
  after: z.string().max(1024, 'must be at most 1024 characters').optional(),
  limit: pageLimit(1000, 100),
});

function countedQuota(raw: string): CountedQuota {
  if (!(COUNTED_QUOTAS as readonly string[]).includes(raw)) {
    throw validationError(
      `"${raw.slice(0, 40)}" is not a counted quota`,
      [{ path: '/path/quota', message: `must be one of ${COUNTED_QUOTAS.join(', ')}` }],
      'invalid_quota',
    );
  }
  return raw as CountedQuota;
}

/** Whether the caller asked for CSV (`?format=csv`, or `Accept: text/csv` without a preference for JSON). */
function wantsCsv(request: FastifyRequest, format: 'json' | 'csv' | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  const accept = request.headers.accept ?? '';
  return /\btext\/csv\b/.test(accept) && !/\bapplication\/json\b/.test(accept);
}

/** Register usage, quota and object routes. */
export function usageRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const { usage, quotas } = deps.commercial;

  const sendReport = (reply: FastifyReply, report: CostReport, csv: boolean, name: string) => {
    if (!csv) return reply.send(report);
    return reply
      .type('text/csv; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="${name}"`)
      .send(reportCsv(report));
  };

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/usage', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'usage.write', id);
    const body = parseOrThrow(tenantUsageBatchSchema, request.body, 'the usage batch', [], 'invalid_usage');
    return usage.record(
      actorOf(request),
      body.meters.map((m) => ({ ...m, tenantId: id })),
      request.principal!.actorId,
    );
  });

  app.post('/v1/usage', async (request) => {
    const principal = await guard.authorize(request, 'usage.write');
    const body = parseOrThrow(usageBatchSchema, request.body, 'the usage batch', [], 'invalid_usage');
    if (principal.tenantId !== null) {
      const other = body.meters.find((m) => m.tenantId !== principal.tenantId);
      if (other) await guard.authorize(request, 'usage.write', other.tenantId);
    }
    return usage.record(actorOf(request), body.meters, principal.actorId);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/usage', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'usage.read', id);
    const q = parseOrThrow(usageQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    const unit = q.granularity === 'hour' ? HOUR_MS : DAY_MS;
    const to = q.to !== undefined ? Date.parse(q.to) : Math.ceil(Date.now() / unit) * unit;
    const from = q.from !== undefined ? Date.parse(q.from) : to - (q.granularity === 'hour' ? DAY_MS : 30 * DAY_MS);
    if (from >= to)
      throw validationError(
        'the range is empty',
        [{ path: '/query/from', message: 'must be before to' }],
        'invalid_query',
      );
    if (to - from > MAX_SPAN_MS[q.granularity]) {
      throw validationError(
        'the range is too long',
        [
          {
            path: '/query/from',
            message: `must be at most ${MAX_SPAN_MS[q.granularity] / DAY_MS} days before to for granularity ${q.granularity}`,
          },
        ],
        'invalid_query',
      );
    }
    await deps.tenants.registry.get(id);
    // Buckets are whole hours or days: a range starting inside one includes it.
    const start = Math.floor(from / unit) * unit;
    const items = await usage.series(id, {
      from: new Date(start),
      to: new Date(to),
      granularity: q.granularity,
      resource: q.resource,
    });
    const totals = new Map<string, { resource: string; amount: number; events: number }>();
    for (const p of items) {
      const t = totals.get(p.resource) ?? { resource: p.resource, amount: 0, events: 0 };
      t.amount += p.amount;
      t.events += p.events;
      totals.set(p.resource, t);
    }
    return {
      tenantId: id,
      granularity: q.granularity,
      from: new Date(start).toISOString(),
      to: new Date(to).toISOString(),
      totals: [...totals.values()].sort((a, b) => a.resource.localeCompare(b.resource)),
      items,
    };
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/usage/report', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'usage.read', id);
    const q = parseOrThrow(tenantReportQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    await deps.tenants.registry.get(id);
    const month = q.month ?? monthOf(Date.now());
    return sendReport(reply, await usage.report(month, id), wantsCsv(request, q.format), `usage-${id}-${month}.csv`);
  });

  app.get('/v1/usage/report', async (request, reply) => {
    const principal = await guard.authorize(request, 'usage.read');
    const q = parseOrThrow(reportQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    if (principal.tenantId !== null && q.tenant !== undefined) await guard.authorize(request, 'usage.read', q.tenant);
    const tenant = principal.tenantId ?? q.tenant ?? guard.scopeOf(request, principal);
    if (tenant !== undefined && principal.tenantId === null) await deps.tenants.registry.get(tenant);
    const month = q.month ?? monthOf(Date.now());
    return sendReport(
      reply,
      await usage.report(month, tenant),
      wantsCsv(request, q.format),
      tenant ? `usage-${tenant}-${month}.csv` : `usage-${month}.csv`,
    );
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/quotas', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'usage.read', id);
    return { tenantId: id, items: await quotas.status(id) };
  });

  app.post<{ Params: { id: string; quota: string } }>('/v1/tenants/:id/quotas/:quota/reserve', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'usage.write', id);
    const quota = countedQuota(request.params.quota);
    const { amount } = parseOrThrow(quotaAmountSchema, request.body ?? {}, 'the request');
    return quotas.reserve(actorOf(request), id, quota, amount);
  });

  app.post<{ Params: { id: string; quota: string } }>('/v1/tenants/:id/quotas/:quota/release', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'usage.write', id);
    const quota = countedQuota(request.params.quota);
    const { amount } = parseOrThrow(quotaAmountSchema, request.body ?? {}, 'the request');
    return quotas.release(actorOf(request), id, quota, amount);
  });

  app.put<{ Params: { id: string; quota: string } }>('/v1/tenants/:id/quotas/:quota', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'usage.write', id);
    const quota = countedQuota(request.params.quota);
    const { current } = parseOrThrow(quotaSetSchema, request.body, 'the request');
    return quotas.set(actorOf(request), id, quota, current);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/objects', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'object.read', id);
    const q = parseOrThrow(objectListQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    return deps.isolation.tenantObjects().list(id, q);
  });

  // Object bodies are raw bytes of any type: a scope of their own without the JSON and YAML parsers.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: OBJECT_BODY_LIMIT_BYTES }, (_request, body, done) =>
      done(null, body),
    );
    const keyOf = (request: FastifyRequest<{ Params: { '*': string } }>) => request.params['*'];

    scope.put<{ Params: { id: string; '*': string } }>(
      '/v1/tenants/:id/objects/*',
      { bodyLimit: OBJECT_BODY_LIMIT_BYTES },
      async (request, reply) => {
        const id = guard.pathTenant(request, request.params.id);
        await guard.authorize(request, 'object.write', id);
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const contentType = (request.headers['content-type'] ?? 'application/octet-stream').slice(0, 200);
        const info = await deps.isolation.tenantObjects().put(actorOf(request), id, keyOf(request), body, contentType);
        return reply.code(201).send(info);
      },
    );

    scope.get<{ Params: { id: string; '*': string } }>('/v1/tenants/:id/objects/*', async (request, reply) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'object.read', id);
      const key = keyOf(request);
      const object = await deps.isolation.tenantObjects().get(id, key);
      if (!object) throw notFound('object_not_found', `object ${key.slice(0, 200)} not found`);
      return reply.type(object.contentType).header('ETag', `"${object.etag}"`).send(object.body);
    });

    scope.delete<{ Params: { id: string; '*': string } }>('/v1/tenants/:id/objects/*', async (request) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'object.write', id);
      const key = keyOf(request);
      return { key, deleted: await deps.isolation.tenantObjects().delete(actorOf(request), id, key) };
    });
  });
}
