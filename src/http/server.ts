/**
 * The HTTP server: Fastify with problem+json errors, correlation ids (X-Request-Id or W3C
 * traceparent), bearer authentication on `/v1`, idempotency keys, metrics, and one route
 * file per module.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { sql } from 'kysely';
import { TenancyError } from '../errors.js';
import { connectionLimits } from './connections.js';
import { actorOf, Guard, type HttpDeps } from './context.js';
import { registerIdempotency } from './idempotency.js';
import { auditSovereigntyRefusals } from './sovereignty-audit.js';
import { buildOpenApi, docsPage } from './openapi/index.js';
import { errorHandler, problem, sendProblem } from './problem.js';
import { accessRoutes } from './routes/access-routes.js';
import { aiRoutes } from './routes/ai-routes.js';
import { routerAdminRoutes } from './routes/router-admin-routes.js';
import { retrievalRoutes } from './routes/retrieval-routes.js';
import { checkFreezeOverride, FREEZE_OVERRIDE_HEADER, sloRoutes } from './routes/slo-routes.js';
import { applyRoutes } from './routes/apply-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { eventRoutes } from './routes/event-routes.js';
import { governanceRoutes } from './routes/governance-routes.js';
import { keyRoutes } from './routes/key-routes.js';
import { policyRoutes } from './routes/policy-routes.js';
import { reportRoutes } from './routes/report-routes.js';
import { resourceRoutes } from './routes/resource-routes.js';
import { jobRoutes } from './routes/job-routes.js';
import { tenantRoutes } from './routes/tenant-routes.js';
import { usageRoutes } from './routes/usage-routes.js';
import { webhookRoutes } from './routes/webhook-routes.js';
import { verifyRoutes } from './routes/verify-routes.js';
import { registerYamlParser } from './yaml-body.js';

/** Default body limit (bytes) for every endpoint except `POST /v1/apply`. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
/** Body limit (bytes) for `POST /v1/apply`. */
export const APPLY_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Build the server (not listening yet). */
export function buildServer(deps: HttpDeps, logger: FastifyServerOptions['logger'] = false): FastifyInstance {
  const connections = connectionLimits(deps.server.requestTimeoutMs);
  const app = Fastify({
    ...connections.options,
    logger,
    bodyLimit: deps.server.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    genReqId(req) {
      const given = req.headers['x-request-id'];
      if (typeof given === 'string' && REQUEST_ID.test(given)) return given;
      const tp = req.headers.traceparent;
      const m = typeof tp === 'string' ? TRACEPARENT.exec(tp) : null;
      return m ? m[1]! : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  });
  const guard = new Guard(deps);
  const { httpRequests, httpDuration } = deps.server.metrics;

  app.setErrorHandler(errorHandler);
  auditSovereigntyRefusals(app, deps);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problem(404, 'not_found', `no route for ${request.method} ${request.url.split('?')[0]}`, {
        instance: request.url.split('?')[0]!,
        correlationId: request.id,
      }),
    ),
  );
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'application/merge-patch+json',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );
  registerYamlParser(app);

  app.decorateRequest('principal', undefined);
  app.decorateRequest('freezeOverride', undefined);
  connections.register(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    (request as { startedAt?: bigint }).startedAt = process.hrtime.bigint();
    if (request.routeOptions.config?.public || !request.url.startsWith('/v1/')) return;
    try {
      request.principal = await deps.access.authenticator.authenticate(request.headers.authorization);
    } catch (error) {
      if (error instanceof TenancyError && error.status === 401) {
        await deps.ledger.audit.record(actorOf(request), {
          action: 'auth.authenticate',
          target: request.routeOptions.url ?? request.url.split('?')[0]!,
          tenantId: null,
          outcome: 'denied',
          details: { code: error.code, method: request.method },
        });
      }
      throw error;
    }
    if (request.headers[FREEZE_OVERRIDE_HEADER] !== undefined) await checkFreezeOverride(request, deps);
  });
  registerIdempotency(app, deps.ledger.idempotency);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    const started = (request as { startedAt?: bigint }).startedAt;
    if (started)
      httpDuration.observe({ method: request.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
  });

  const openapi = buildOpenApi(deps.server.version);
  const publicRoute = { config: { public: true } };
  app.get('/healthz', publicRoute, async () => ({ status: 'ok' }));
  app.get('/readyz', publicRoute, async (_request, reply) => {
    try {
      await sql`select 1`.execute(deps.store.db);
      return { status: 'ready', engine: deps.store.engine };
    } catch {
      return sendProblem(reply, problem(503, 'not_ready', 'the control-plane database is not reachable'));
    }
  });
  app.get('/metrics', publicRoute, async (_request, reply) => {
    const phases = await deps.tenants.registry.countByPhase();
    const lines = [
      '# HELP tenancy_tenants Tenants by lifecycle phase',
      '# TYPE tenancy_tenants gauge',
      ...phases.map((p) => `tenancy_tenants{phase="${p.phase}"} ${p.count}`),
    ];
    const body = `${(await deps.server.metrics.registry.metrics()) + lines.join('\n')}\n`;
    return reply.type(deps.server.metrics.registry.contentType).send(body);
  });
  app.get('/openapi.json', publicRoute, async () => openapi);
  app.get('/docs', publicRoute, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(docsPage(openapi)),
  );
  app.get('/.well-known/jwks.json', publicRoute, async () => deps.access.tokens.jwks());

  aiRoutes(app, deps, guard);
  if (deps.server.role === 'gateway') return app;
  routerAdminRoutes(app, deps, guard);
  retrievalRoutes(app, deps, guard);
  sloRoutes(app, deps, guard);
  tenantRoutes(app, deps, guard);
  applyRoutes(app, deps, guard);
  accessRoutes(app, deps, guard);
  auditRoutes(app, deps, guard);
  keyRoutes(app, deps, guard);
  resourceRoutes(app, deps, guard);
  jobRoutes(app, deps, guard);
  eventRoutes(app, deps, guard);
  webhookRoutes(app, deps, guard);
  usageRoutes(app, deps, guard);
  governanceRoutes(app, deps, guard);
  policyRoutes(app, deps, guard);
  reportRoutes(app, deps, guard);
  verifyRoutes(app, deps, guard);
  return app;
}
