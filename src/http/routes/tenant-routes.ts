/**
 * `/v1/tenants`: create, list, read, patch, lifecycle verbs, delete, the tenant context
 * and the documents of its GitOps folder.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PLATFORM_ONLY_SPEC_FIELDS, isPlatformRole } from '../../access/index.js';
import { TenancyError, validationError } from '../../errors.js';
import { parseLabelSelector, parseOrThrow, PHASES, PLANS, PROFILES, type Tenant } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';
import { YamlDocuments } from '../yaml-body.js';

export const listQuerySchema = z.strictObject({
  phase: z.enum(PHASES).optional(),
  plan: z.enum(PLANS).optional(),
  profile: z.enum(PROFILES).optional(),
  region: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a region name')
    .optional(),
  labelSelector: z.string().min(1).max(1024).optional(),
  includeDeleted: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int('must be an integer').min(1, 'must be 1..500').max(500, 'must be 1..500').default(50),
  cursor: z.string().min(1).max(200).optional(),
});

const verbBodySchema = z.strictObject({ reason: z.string().trim().min(1, 'must not be empty').max(500).optional() });

/** ETag of a tenant: its generation. */
export function etagOf(tenant: Tenant): string {
  return `"${tenant.metadata.generation}"`;
}

/** The generation an `If-Match` header asks for; 400 when it is not one of our ETags. */
export function parseIfMatch(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"(\d{1,9})"\s*$/.exec(value);
  if (!m)
    throw validationError(
      'If-Match must be an ETag from this API, such as "3"',
      [{ path: '/headers/if-match', message: `cannot use ${JSON.stringify(value.slice(0, 40))}` }],
      'invalid_if_match',
    );
  return Number(m[1]);
}

function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ after: id })).toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const after = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown }).after;
    if (typeof after === 'string' && after.length <= 63) return after;
  } catch {
    /* reported below */
  }
  throw validationError(
    'the cursor is not valid',
    [{ path: '/query/cursor', message: 'use the "next" value of a previous page' }],
    'invalid_cursor',
  );
}

function singleManifest(body: unknown): unknown {
  if (body instanceof YamlDocuments) {
    if (body.documents.length !== 1)
      throw validationError(
        'send exactly one manifest',
        [{ path: '', message: `found ${body.documents.length} YAML documents; use POST /v1/apply for several` }],
        'invalid_manifest',
      );
    return body.documents[0];
  }
  return body;
}

/** Register the tenant routes. */
export function tenantRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const { registry } = deps.tenants;
  const locked = (request: FastifyRequest) =>
    request.principal && isPlatformRole(request.principal.role) ? undefined : PLATFORM_ONLY_SPEC_FIELDS;

  app.post('/v1/tenants', async (request, reply) => {
    await guard.authorize(request, 'tenant.create');
    const tenant = await registry.create(actorOf(request), singleManifest(request.body));
    return reply
      .code(201)
      .header('Location', `/v1/tenants/${tenant.metadata.id}`)
      .header('ETag', etagOf(tenant))
      .send(tenant);
  });

  app.get('/v1/tenants', async (request) => {
    const principal = await guard.authorize(request, 'tenant.list');
    const q = parseOrThrow(listQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    const page = await registry.list({
      phase: q.phase,
      plan: q.plan,
      profile: q.profile,
      region: q.region,
      labelSelector: q.labelSelector ? parseLabelSelector(q.labelSelector) : undefined,
      includeDeleted: q.includeDeleted === 'true',
      onlyId: guard.scopeOf(request, principal),
      after: q.cursor ? decodeCursor(q.cursor) : undefined,
      limit: q.limit,
    });
    return { items: page.items, next: page.next === null ? null : encodeCursor(page.next) };
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'tenant.read', id);
    const { tenant, json } = await registry.getJson(id);
    return reply.header('ETag', etagOf(tenant)).type('application/json; charset=utf-8').send(json);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/context', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'tenant.read', id);
    return registry.context(id);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/documents', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'tenant.read', id);
    return { items: await registry.documents(id) };
  });

  app.patch<{ Params: { id: string } }>('/v1/tenants/:id', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'tenant.update', id);
    const expectedGeneration = parseIfMatch(request.headers['if-match']);
    const { tenant, changes, approval } = await registry.update(actorOf(request), id, request.body, {
      expectedGeneration,
      lockedSpecFields: locked(request),
      role: request.principal?.role,
      freezeOverride: request.freezeOverride,
    });
    if (approval) {
      deps.governance.onApprovalChange?.();
      return reply
        .code(202)
        .header('Location', `/v1/approvals/${approval.id}`)
        .header('ETag', etagOf(tenant))
        .send({ status: 'pending_approval', approval });
    }
    return reply.header('ETag', etagOf(tenant)).send({ ...tenant, changes });
  });

  for (const verb of ['suspend', 'resume', 'archive', 'restore'] as const) {
    app.post<{ Params: { id: string } }>(`/v1/tenants/:id/${verb}`, async (request) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, `tenant.${verb}`, id);
      const body = request.body === undefined || request.body === null ? {} : request.body;
      const { reason } = parseOrThrow(verbBodySchema, body, 'the body', [], 'validation_failed');
      return registry.transition(actorOf(request), id, verb, reason);
    });
  }

  app.delete<{ Params: { id: string } }>('/v1/tenants/:id', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'tenant.delete', id);
    const expectedGeneration = parseIfMatch(request.headers['if-match']);
    if (expectedGeneration !== undefined) {
      const current = await registry.get(id);
      if (current.metadata.generation !== expectedGeneration) {
        throw new TenancyError(
          'precondition_failed',
          `tenant ${id} is at generation ${current.metadata.generation}, not ${expectedGeneration}`,
        );
      }
    }
    const tenant = await registry.transition(actorOf(request), id, 'delete');
    return reply.code(202).send(tenant);
  });
}
