/**
 * Policies (`/v1/tenants/{id}/policies`): commit (four reported stages, JSON or YAML),
 * versions and their diff, recorded samples, evaluation, canary rollout, the tenant's
 * policy signing keys (`/v1/tenants/{id}/policy-keys`), and cross-tenant conflicts
 * (`/v1/policy-conflicts`, platform roles only). Another tenant's id answers 404. A commit
 * for a tenant whose governance requires `policyChange` answers 202 with a pending approval.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { validationError } from '../../errors.js';
import {
  findPolicyConflicts,
  namespaceIdSchema,
  policyNameSchema,
  POLICY_KEY_ID_PATTERN,
  sampleSchema,
  type PolicyVersionInfo,
} from '../../governance/index.js';
import { diff, liveTenantIds, parseOrThrow } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';
import { YamlDocuments } from '../yaml-body.js';

const reason = z.string().min(1).max(500);
export const policyKeySchema = z
  .strictObject({
    id: z.string().regex(POLICY_KEY_ID_PATTERN, 'must be 1-128 letters, digits, ".", "_" or "-"').optional(),
    jwk: z.record(z.string(), z.unknown()).optional(),
    publicKeyPem: z.string().max(4096).optional(),
    description: z.string().max(500).optional(),
  })
  .refine((k) => (k.jwk === undefined) !== (k.publicKeyPem === undefined), {
    message: 'send exactly one of jwk and publicKeyPem',
    path: ['jwk'],
  })
  .meta({
    id: 'NewPolicyKey',
    description:
      "An Ed25519 public key (JWK or PEM) that may sign the tenant's policies; the id defaults to the RFC 7638 JWK thumbprint.",
  });
export const commitQuerySchema = z.strictObject({
  activate: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  dryRun: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
});
export const policyListQuerySchema = z.strictObject({
  domainId: namespaceIdSchema.optional(),
  usecaseId: namespaceIdSchema.optional(),
});
export const diffQuerySchema = z.strictObject({
  from: z.coerce.number({ error: 'must be a version number' }).int('must be an integer').min(1, 'must be >= 1'),
  to: z.coerce.number({ error: 'must be a version number' }).int('must be an integer').min(1, 'must be >= 1'),
});
export const evaluateSchema = z
  .strictObject({
    domainId: namespaceIdSchema,
    usecaseId: namespaceIdSchema,
    request: z.record(z.string(), z.unknown()),
    policy: policyNameSchema.optional(),
    key: z.string().min(1).max(256).optional(),
  })
  .meta({
    id: 'PolicyEvaluation',
    description: 'A request to decide; `key` buckets traffic canaries (default: the canonical request).',
  });
export const recordSampleSchema = z
  .strictObject({ domainId: namespaceIdSchema, usecaseId: namespaceIdSchema, ...sampleSchema.shape })
  .meta({ id: 'PolicySampleInput' });
export const rolloutSchema = z
  .strictObject({
    version: z.number().int('must be an integer').min(1, 'must be >= 1'),
    by: z.enum(['traffic', 'tenant'], { error: 'must be traffic or tenant' }).default('traffic'),
    steps: z
      .array(z.number().int('must be an integer').min(1, 'must be 1..100').max(100, 'must be 1..100'))
      .min(1)
      .max(10)
      .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]!), 'must increase')
      .refine((s) => s[s.length - 1] === 100, 'must end at 100')
      .optional(),
    reason: reason.optional(),
  })
  .meta({
    id: 'PolicyRollout',
    description: 'Start a canary of a committed version (default steps 10, 50, 100 percent).',
  });
export const rolloutDecisionSchema = z
  .strictObject({ reason: reason.optional() })
  .meta({ id: 'PolicyRolloutDecision' });
export const conflictQuerySchema = z.strictObject({
  tenant: z
    .string()
    .regex(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a tenant id')
    .optional(),
});

const versionParam = (raw: string, path = '/path/version'): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw validationError('not a version number', [{ path, message: 'must be a positive integer' }], 'invalid_version');
  return n;
};
const nameParam = (raw: string, path = '/path/name'): string => {
  const r = policyNameSchema.safeParse(raw);
  if (!r.success)
    throw validationError(
      `"${raw.slice(0, 80)}" is not a policy name`,
      [{ path, message: r.error.issues[0]!.message }],
      'invalid_policy_name',
    );
  return r.data;
};
const nsParam = (raw: string, path: string): string => {
  const r = namespaceIdSchema.safeParse(raw);
  if (!r.success)
    throw validationError(
      `"${raw.slice(0, 80)}" is not a valid id`,
      [{ path, message: r.error.issues[0]!.message }],
      'invalid_path',
    );
  return r.data;
};

/** A body posted as YAML: one policy document, plain or as a `TenantPolicy` folder document. */
function policyBody(request: FastifyRequest, tenantId: string): unknown {
  let body = request.body;
  if (body instanceof YamlDocuments) {
    if (body.documents.length !== 1)
      throw validationError(
        'send one policy document',
        [{ path: '', message: `the YAML body has ${body.documents.length} documents` }],
        'policy_parse_failed',
      );
    body = body.documents[0];
  }
  const doc = body as { kind?: unknown; metadata?: { tenant?: unknown; name?: unknown }; spec?: unknown } | null;
  if (doc && typeof doc === 'object' && doc.kind === 'TenantPolicy') {
    if (doc.metadata?.tenant !== tenantId)
      throw validationError(
        'the document names another tenant',
        [{ path: '/metadata/tenant', message: `must be ${tenantId} (the tenant in the path)` }],
        'tenant_mismatch',
      );
    return { name: doc.metadata?.name, ...(doc.spec as Record<string, unknown>) };
  }
  return body;
}

/** Rules and samples keyed by id/name, so a diff names the rule that changed. */
function diffable(v: PolicyVersionInfo): Record<string, unknown> {
  const doc = v.document as { rules?: Array<{ id: string }>; samples?: Array<{ name: string }> } & Record<
    string,
    unknown
  >;
  return {
    ...doc,
    rules: Object.fromEntries((doc.rules ?? []).map((r) => [r.id, r])),
    ruleOrder: (doc.rules ?? []).map((r) => r.id),
    samples: Object.fromEntries((doc.samples ?? []).map((s) => [s.name, s])),
  };
}

/** Register policy routes. */
export function policyRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const { policies, policyKeys } = deps.governance;

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/policy-keys', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy_key.manage', id);
    const body = parseOrThrow(policyKeySchema, request.body, 'the key', [], 'invalid_policy_key');
    const key = await policyKeys.register(actorOf(request), id, body);
    return reply
      .code(201)
      .header('Location', `/v1/tenants/${id}/policy-keys/${encodeURIComponent(key.id)}`)
      .send(key);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/policy-keys', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.read', id);
    await deps.tenants.registry.get(id);
    return { items: await policyKeys.list(id) };
  });

  app.delete<{ Params: { id: string; keyId: string } }>('/v1/tenants/:id/policy-keys/:keyId', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy_key.manage', id);
    if (!POLICY_KEY_ID_PATTERN.test(request.params.keyId))
      throw validationError(
        'not a key id',
        [{ path: '/path/keyId', message: 'must be 1-128 letters, digits, ".", "_" or "-"' }],
        'invalid_policy_key',
      );
    await policyKeys.remove(actorOf(request), id, request.params.keyId);
    return { id: request.params.keyId, deleted: true };
  });

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/policies', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.write', id);
    const q = parseOrThrow(commitQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    const body = policyBody(request, id);
    if (q.dryRun === 'true') {
      const prepared = await policies.prepare(id, body, { source: 'api' });
      return {
        dryRun: true,
        committed: false,
        unchanged: prepared.unchangedVersion !== null,
        stages: [...prepared.stages, { name: 'commit', ok: true, ms: 0, skipped: true }],
      };
    }
    await deps.tenants.registry.freezeGuard?.check(
      undefined,
      actorOf(request),
      id,
      ['policyChange'],
      request.freezeOverride,
    );
    const submitted = await policies.submit(actorOf(request), id, body, {
      source: 'api',
      activate: q.activate === 'true',
      role: request.principal?.role,
    });
    if (submitted.outcome === 'pending') {
      // The tenant's governance requires approval for policy changes: nothing was committed.
      deps.governance.onApprovalChange?.();
      return reply
        .code(202)
        .header('Location', `/v1/approvals/${submitted.approval.id}`)
        .send({ status: 'pending_approval', approval: submitted.approval, stages: submitted.stages });
    }
    const result = submitted.result;
    if (!result.committed) return reply.code(200).send(result);
    return reply
      .code(201)
      .header('Location', `/v1/tenants/${id}/policies/${result.policy.name}/versions/${result.policy.version}`)
      .send(result);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/policies', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.read', id);
    const q = parseOrThrow(policyListQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    await deps.tenants.registry.get(id);
    return { items: await policies.list(id, q) };
  });

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/policies/evaluate', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.evaluate', id);
    const body = parseOrThrow(evaluateSchema, request.body, 'the evaluation');
    return policies.evaluate(id, body);
  });

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/policies/samples', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.write', id);
    const body = parseOrThrow(recordSampleSchema, request.body, 'the sample');
    const { created } = await policies.putSample(actorOf(request), id, body);
    return reply.code(created ? 201 : 200).send({ ...body, created });
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/policies/samples', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.read', id);
    const q = parseOrThrow(policyListQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    await deps.tenants.registry.get(id);
    return { items: await policies.listSamples(id, q) };
  });

  app.delete<{ Params: { id: string; domainId: string; usecaseId: string; name: string } }>(
    '/v1/tenants/:id/policies/samples/:domainId/:usecaseId/:name',
    async (request) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'policy.write', id);
      const domainId = nsParam(request.params.domainId, '/path/domainId');
      const usecaseId = nsParam(request.params.usecaseId, '/path/usecaseId');
      const name = nameParam(request.params.name);
      await policies.deleteSample(actorOf(request), id, domainId, usecaseId, name);
      return { domainId, usecaseId, name, deleted: true };
    },
  );

  app.get<{ Params: { id: string; name: string } }>('/v1/tenants/:id/policies/:name', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.read', id);
    return policies.get(id, nameParam(request.params.name));
  });

  app.get<{ Params: { id: string; name: string } }>('/v1/tenants/:id/policies/:name/versions', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.read', id);
    return { items: await policies.versions(id, nameParam(request.params.name)) };
  });

  app.get<{ Params: { id: string; name: string; version: string } }>(
    '/v1/tenants/:id/policies/:name/versions/:version',
    async (request) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'policy.read', id);
      return policies.version(id, nameParam(request.params.name), versionParam(request.params.version));
    },
  );

  app.get<{ Params: { id: string; name: string } }>('/v1/tenants/:id/policies/:name/diff', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.read', id);
    const name = nameParam(request.params.name);
    const q = parseOrThrow(diffQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    const [from, to] = [await policies.version(id, name, q.from), await policies.version(id, name, q.to)];
    return {
      name,
      from: { version: from.version, semver: from.semver },
      to: { version: to.version, semver: to.semver },
      changes: diff(diffable(from), diffable(to)),
    };
  });

  app.post<{ Params: { id: string; name: string } }>('/v1/tenants/:id/policies/:name/rollout', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'policy.rollout', id);
    const name = nameParam(request.params.name);
    const body = parseOrThrow(rolloutSchema, request.body, 'the rollout');
    await deps.tenants.registry.freezeGuard?.check(
      undefined,
      actorOf(request),
      id,
      ['policyChange'],
      request.freezeOverride,
    );
    return policies.startRollout(actorOf(request), id, name, body);
  });

  app.post<{ Params: { id: string; name: string } }>(
    '/v1/tenants/:id/policies/:name/rollout/promote',
    async (request) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'policy.rollout', id);
      const name = nameParam(request.params.name);
      const body = parseOrThrow(rolloutDecisionSchema, request.body ?? {}, 'the request');
      return policies.promote(actorOf(request), id, name, body.reason);
    },
  );

  app.post<{ Params: { id: string; name: string } }>(
    '/v1/tenants/:id/policies/:name/rollout/rollback',
    async (request) => {
      const id = guard.pathTenant(request, request.params.id);
      await guard.authorize(request, 'policy.rollout', id);
      const name = nameParam(request.params.name);
      const body = parseOrThrow(rolloutDecisionSchema, request.body ?? {}, 'the request');
      return policies.rollback(actorOf(request), id, name, body.reason);
    },
  );

  app.get('/v1/policy-conflicts', async (request) => {
    await guard.authorize(request, 'policy.conflicts');
    const q = parseOrThrow(conflictQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    return {
      items: await findPolicyConflicts(deps.store.db, {
        liveTenantIds: liveTenantIds(deps.store.db),
        ...(q.tenant ? { tenantId: q.tenant } : {}),
        sandbox: policies.sandboxLimits,
      }),
    };
  });
}
