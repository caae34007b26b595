/**
 * The OpenAPI 3.1 description, generated from the same zod schemas that validate requests,
 * and a small self-contained HTML page that lists it.
 */
import { z } from 'zod';
import { platformKeySchema, tenantKeySchema, tokenRequestSchema } from './routes/access-routes.js';
import { appAuditEventSchema, auditQuerySchema } from './routes/audit-routes.js';
import { eventQuerySchema } from './routes/event-routes.js';
import {
  approvalListQuerySchema,
  decisionSchema,
  driftListQuerySchema,
  lineageQuerySchema,
  sovereigntyCheckSchema,
} from './routes/governance-routes.js';
import { lineageBatchSchema } from '../governance/index.js';
import {
  createWebhookSchema,
  deliveryQuerySchema,
  rotateSecretSchema,
  updateWebhookSchema,
  webhookListQuerySchema,
} from './routes/webhook-routes.js';
import { putSecretSchema, retireSchema } from './routes/key-routes.js';
import {
  commitQuerySchema,
  conflictQuerySchema,
  diffQuerySchema,
  evaluateSchema,
  policyKeySchema,
  policyListQuerySchema,
  recordSampleSchema,
  rolloutDecisionSchema,
  rolloutSchema,
} from './routes/policy-routes.js';
import { policyInputSchema } from '../governance/index.js';
import { jobsQuerySchema, migrationRunSchema } from './routes/job-routes.js';
import { verifyIsolationSchema } from './routes/verify-routes.js';
import { listQuerySchema } from './routes/tenant-routes.js';
import {
  objectListQuerySchema,
  quotaAmountSchema,
  quotaSetSchema,
  reportQuerySchema,
  tenantReportQuerySchema,
  usageQuerySchema,
} from './routes/usage-routes.js';
import { tenantUsageBatchSchema, usageBatchSchema } from '../commercial/index.js';
import { bundleSchema, tenantManifestSchema } from '../tenants/index.js';

type Op = {
  summary: string;
  tags: string[];
  body?: string;
  query?: z.ZodObject;
  ok: number;
  okSchema?: string;
  okType?: string;
  ifMatch?: boolean;
  idempotent?: boolean;
  public?: boolean;
  csv?: boolean;
  raw?: boolean;
};

const tenantPath = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' },
};

const OPERATIONS: Record<string, Record<string, Op>> = {
  '/v1/approvals': {
    get: {
      summary: 'List approvals, newest first (a tenant caller sees its own)',
      tags: ['governance'],
      query: approvalListQuerySchema,
      ok: 200,
    },
  },
  '/v1/approvals/{approvalId}': {
    get: { summary: 'Read an approval: the proposed change, its base and the decision', tags: ['governance'], ok: 200 },
  },
  '/v1/approvals/{approvalId}/approve': {
    post: {
      summary: 'Approve and apply the change (not by its requester; 409 approval_stale when the tenant changed since)',
      tags: ['governance'],
      body: 'ApprovalDecision',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/approvals/{approvalId}/reject': {
    post: {
      summary: 'Reject the change (its requester may reject to withdraw it)',
      tags: ['governance'],
      body: 'ApprovalDecision',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/approvals/{approvalId}/report.pdf': {
    get: {
      summary: 'The approval as a PDF report with its audit trail',
      tags: ['governance'],
      ok: 200,
      okType: 'application/pdf',
    },
  },
  '/v1/tenants/{id}/sovereignty/check': {
    post: {
      summary: "Would an operation meet the tenant's data-sovereignty rules? {allowed, violations}",
      tags: ['governance'],
      body: 'SovereigntyCheck',
      ok: 200,
    },
  },
  '/v1/tenants/{id}/lineage': {
    post: {
      summary: 'Record a batch of lineage records (all or nothing)',
      tags: ['governance'],
      body: 'LineageBatch',
      ok: 201,
      idempotent: true,
    },
    get: {
      summary: 'Lineage records in time order (filters, cursor pagination)',
      tags: ['governance'],
      query: lineageQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/lineage/export': {
    get: {
      summary: 'Every matching lineage record as JSON Lines, streamed',
      tags: ['governance'],
      query: lineageQuerySchema.omit({ cursor: true, limit: true }),
      ok: 200,
      okType: 'application/x-ndjson',
    },
  },
  '/v1/tenants/{id}/governance/drift': {
    get: {
      summary:
        "The tenant's drift figures: policy changes, trust against its baseline, quality trend, policy conflicts",
      tags: ['governance'],
      ok: 200,
    },
  },
  '/v1/governance/drift': {
    get: {
      summary: 'The drift map across tenants (paged by tenant id) with conflicts between tenant policies',
      tags: ['governance'],
      query: driftListQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants': {
    post: {
      summary: 'Create a tenant (JSON or YAML manifest)',
      tags: ['tenants'],
      body: 'TenantManifest',
      ok: 201,
      okSchema: 'Tenant',
      idempotent: true,
    },
    get: {
      summary: 'List tenants (filters, label selector, cursor pagination)',
      tags: ['tenants'],
      query: listQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}': {
    get: { summary: 'Read a tenant (ETag = generation)', tags: ['tenants'], ok: 200, okSchema: 'Tenant' },
    patch: {
      summary:
        "JSON merge patch of spec and metadata.labels (202 with a pending approval when the tenant's governance requires one; 422 sovereignty_violation / encryption_mismatch)",
      tags: ['tenants'],
      body: 'TenantPatch',
      ok: 200,
      okSchema: 'Tenant',
      ifMatch: true,
    },
    delete: {
      summary:
        'Delete (soft; purged after retentionDays; 409 retention_violation inside the data-sovereignty retention)',
      tags: ['tenants'],
      ok: 202,
      okSchema: 'Tenant',
      ifMatch: true,
    },
  },
  '/v1/tenants/{id}/context': {
    get: { summary: 'The tenant context: effective quotas, features, topology', tags: ['tenants'], ok: 200 },
  },
  '/v1/tenants/{id}/connection': {
    get: {
      summary:
        "The tenant runtime's connection descriptor (database URL with its own role, bucket and prefix, stream and subject); audited",
      tags: ['tenants'],
      ok: 200,
    },
  },
  '/v1/tenants/{id}/resources': {
    get: { summary: "The tenant's isolated resources and its Kubernetes isolation plan", tags: ['tenants'], ok: 200 },
  },
  '/v1/tenants/{id}/documents': {
    get: {
      summary: 'Documents of the tenant folder (features, router, sovereignty, policies)',
      tags: ['tenants'],
      ok: 200,
    },
  },
  '/v1/tenants/{id}/suspend': {
    post: {
      summary: 'Suspend (reason required)',
      tags: ['lifecycle'],
      body: 'VerbRequest',
      ok: 200,
      okSchema: 'Tenant',
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/resume': {
    post: {
      summary: 'Resume a suspended tenant',
      tags: ['lifecycle'],
      body: 'VerbRequest',
      ok: 200,
      okSchema: 'Tenant',
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/archive': {
    post: {
      summary: 'Archive',
      tags: ['lifecycle'],
      body: 'VerbRequest',
      ok: 200,
      okSchema: 'Tenant',
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/restore': {
    post: {
      summary: 'Restore an archived tenant',
      tags: ['lifecycle'],
      body: 'VerbRequest',
      ok: 200,
      okSchema: 'Tenant',
      idempotent: true,
    },
  },
  '/v1/apply': {
    post: {
      summary:
        "Apply a bundle of manifests, all or nothing (dryRun for the plan; 202 with a pending approval when a tenant's governance requires one)",
      tags: ['tenants'],
      body: 'ApplyBundle',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/api-keys': {
    post: {
      summary: 'Create a tenant API key (token shown once)',
      tags: ['access'],
      body: 'NewTenantApiKey',
      ok: 201,
      idempotent: true,
    },
    get: { summary: "List a tenant's API keys", tags: ['access'], ok: 200 },
  },
  '/v1/tenants/{id}/api-keys/{keyId}': { delete: { summary: 'Revoke a tenant API key', tags: ['access'], ok: 200 } },
  '/v1/api-keys': {
    post: {
      summary: 'Create a platform API key',
      tags: ['access'],
      body: 'NewPlatformApiKey',
      ok: 201,
      idempotent: true,
    },
    get: { summary: 'List platform API keys', tags: ['access'], ok: 200 },
  },
  '/v1/api-keys/{keyId}': { delete: { summary: 'Revoke a platform API key', tags: ['access'], ok: 200 } },
  '/v1/principal': {
    get: {
      summary: "The calling credential's principal (key id, role, tenant); used by the SDK to resolve API keys",
      tags: ['access'],
      ok: 200,
    },
  },
  '/v1/tokens': {
    post: {
      summary: 'Exchange the calling API key for a short-lived EdDSA JWT',
      tags: ['access'],
      body: 'TokenRequest',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/secrets': {
    get: { summary: "List a tenant's secrets (names and versions, never values)", tags: ['keys'], ok: 200 },
  },
  '/v1/tenants/{id}/secrets/{name}': {
    put: {
      summary: 'Store a new version of a secret (encrypted with the tenant key)',
      tags: ['keys'],
      body: 'PutSecret',
      ok: 201,
    },
    get: { summary: 'Read a secret (latest, or ?version=N); every read is audited', tags: ['keys'], ok: 200 },
    delete: { summary: 'Delete every version of a secret', tags: ['keys'], ok: 200 },
  },
  '/v1/tenants/{id}/keys': { get: { summary: "The tenant's key versions and their states", tags: ['keys'], ok: 200 } },
  '/v1/tenants/{id}/keys/rotate': {
    post: {
      summary: 'Rotate the tenant key now (old versions still decrypt)',
      tags: ['keys'],
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/keys/rewrap': {
    post: {
      summary: 'Re-encrypt stored secrets under the active key version',
      tags: ['keys'],
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/keys/retire': {
    post: {
      summary: 'Stop versions below minVersion from decrypting',
      tags: ['keys'],
      body: 'RetireKeys',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/verify/isolation': {
    post: {
      summary:
        'Run the isolation self-test: two throw-away tenants attacked from each other over the API and the database, every probe reported, both purged (dryRun: what would run)',
      tags: ['verify'],
      body: 'VerifyIsolation',
      ok: 200,
    },
  },
  '/v1/root-key/rotate': {
    post: {
      summary: 'Rotate the root key: rewrap every tenant key, data untouched',
      tags: ['keys'],
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/audit': {
    get: {
      summary: 'Audit records (a tenant caller sees its own only)',
      tags: ['audit'],
      query: auditQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/audit-events': {
    post: {
      summary: "Append an app event to the tenant's audit stream (action app.<action>, same hash chain)",
      tags: ['audit'],
      body: 'AppAuditEvent',
      ok: 201,
    },
  },
  '/v1/audit/verify': {
    get: {
      summary:
        'Verify the hash chain, the signed checkpoints, and both against the anchors kept outside the database (named in `anchors`)',
      tags: ['audit'],
      ok: 200,
    },
  },
  '/v1/events': {
    get: {
      summary:
        'Replay events as CloudEvents 1.0, oldest first (cursor: after = seq); a tenant caller sees its own only',
      tags: ['events'],
      query: eventQuerySchema,
      ok: 200,
    },
  },
  '/v1/webhooks': {
    post: {
      summary: "Create a webhook endpoint (platform-wide, or one tenant's); the signing secret is shown once",
      tags: ['webhooks'],
      body: 'NewWebhook',
      ok: 201,
      idempotent: true,
    },
    get: {
      summary: 'List webhook endpoints (a tenant caller sees its own only)',
      tags: ['webhooks'],
      query: webhookListQuerySchema,
      ok: 200,
    },
  },
  '/v1/webhooks/{webhookId}': {
    get: { summary: 'Read a webhook endpoint (never its secret)', tags: ['webhooks'], ok: 200 },
    patch: {
      summary: 'Change url, eventTypes, enabled or description (merge patch)',
      tags: ['webhooks'],
      body: 'WebhookPatch',
      ok: 200,
    },
    delete: { summary: 'Delete a webhook endpoint and its delivery log', tags: ['webhooks'], ok: 200 },
  },
  '/v1/webhooks/{webhookId}/rotate-secret': {
    post: {
      summary: 'New signing secret (shown once); the old one also signs during the overlap',
      tags: ['webhooks'],
      body: 'RotateWebhookSecret',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/webhooks/{webhookId}/deliveries': {
    get: {
      summary: 'Deliveries with every attempt (status code, duration, error, next retry)',
      tags: ['webhooks'],
      query: deliveryQuerySchema,
      ok: 200,
    },
  },
  '/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver': {
    post: { summary: 'Deliver again now', tags: ['webhooks'], ok: 202, idempotent: true },
  },
  '/v1/tenants/{id}/policy-keys': {
    post: {
      summary: "Register an Ed25519 public key (JWK or PEM) that may sign the tenant's policies",
      tags: ['policies'],
      body: 'NewPolicyKey',
      ok: 201,
      idempotent: true,
    },
    get: { summary: "The tenant's policy signing keys (public keys)", tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policy-keys/{policyKeyId}': {
    delete: { summary: 'Remove a policy signing key (committed versions stay)', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies': {
    post: {
      summary:
        "Commit a signed policy in four reported stages (parse, validate, sandbox, commit); JSON or YAML; activate=false keeps the stable version, dryRun=true stops before commit; 202 with a pending approval (Location /v1/approvals/{id}) when the tenant's governance requires policyChange",
      tags: ['policies'],
      body: 'PolicyInput',
      query: commitQuerySchema,
      ok: 201,
      idempotent: true,
    },
    get: {
      summary: "The tenant's policies: stable version and any rollout in progress",
      tags: ['policies'],
      query: policyListQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/policies/evaluate': {
    post: {
      summary: 'Decide a request: allow or deny, with the rule, policy and version that decided',
      tags: ['policies'],
      body: 'PolicyEvaluation',
      ok: 200,
    },
  },
  '/v1/tenants/{id}/policies/samples': {
    post: {
      summary:
        'Record (or replace) a sample request every later commit in its domain and use case is sandboxed against',
      tags: ['policies'],
      body: 'PolicySampleInput',
      ok: 201,
      idempotent: true,
    },
    get: { summary: 'Recorded sample requests', tags: ['policies'], query: policyListQuerySchema, ok: 200 },
  },
  '/v1/tenants/{id}/policies/samples/{domainId}/{usecaseId}/{sampleName}': {
    delete: { summary: 'Delete a recorded sample', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies/{name}': {
    get: { summary: 'A policy: where it lives, latest and stable versions, rollout', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies/{name}/versions': {
    get: { summary: 'Every committed (immutable) version, oldest first', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies/{name}/versions/{version}': {
    get: { summary: 'One version with its signed document', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies/{name}/diff': {
    get: {
      summary: 'What changed between two versions (rules and samples by id)',
      tags: ['policies'],
      query: diffQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/policies/{name}/rollout': {
    post: {
      summary:
        'Start a canary of a committed version for a share of traffic or of tenants (default 10, 50, 100 percent)',
      tags: ['policies'],
      body: 'PolicyRollout',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/policies/{name}/rollout/promote': {
    post: {
      summary: 'Next rollout step; past 100% the canary version becomes stable (audited)',
      tags: ['policies'],
      body: 'PolicyRolloutDecision',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/policies/{name}/rollout/rollback': {
    post: {
      summary: 'Abandon the canary: all traffic back on the stable version (audited)',
      tags: ['policies'],
      body: 'PolicyRolloutDecision',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/policy-conflicts': {
    get: {
      summary:
        'Tenants whose active policies in the same domain and use case decide a recorded request oppositely (platform roles)',
      tags: ['policies'],
      query: conflictQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/migrations': {
    get: { summary: 'App migrations applied to the tenant, per environment', tags: ['migrations'], ok: 200 },
  },
  '/v1/migrations': {
    post: {
      summary: "Roll the app's migrations out across tenants in waves (a job; 202 with Location)",
      tags: ['migrations'],
      body: 'MigrationRun',
      ok: 202,
    },
  },
  '/v1/jobs': {
    get: {
      summary: 'Jobs, newest first (a tenant caller sees its own only)',
      tags: ['jobs'],
      query: jobsQuerySchema,
      ok: 200,
    },
  },
  '/v1/jobs/{jobId}': {
    get: { summary: 'A job: state, progress, attempts, last error, result', tags: ['jobs'], ok: 200 },
  },
  '/v1/usage': {
    post: {
      summary: 'Record meters of any tenants (idempotent by meter id per tenant); platform recorders such as the SDK',
      tags: ['usage'],
      body: 'UsageBatch',
      ok: 200,
    },
  },
  '/v1/tenants/{id}/usage': {
    post: {
      summary: 'Record meters of the tenant (idempotent by meter id); rolled up per hour and day',
      tags: ['usage'],
      body: 'TenantUsageBatch',
      ok: 200,
    },
    get: {
      summary: 'Usage per hour or day with totals per resource',
      tags: ['usage'],
      query: usageQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/usage/report': {
    get: {
      summary: "The tenant's monthly cost allocation (JSON, or CSV with format=csv or Accept: text/csv)",
      tags: ['usage'],
      query: tenantReportQuerySchema,
      ok: 200,
      csv: true,
    },
  },
  '/v1/usage/report': {
    get: {
      summary: 'The monthly cost-allocation report per tenant (a tenant caller gets its own); JSON or CSV',
      tags: ['usage'],
      query: reportQuerySchema,
      ok: 200,
      csv: true,
    },
  },
  '/v1/tenants/{id}/quotas': {
    get: {
      summary: 'Every quota of the tenant: limit, current use, exceeded, where it is enforced',
      tags: ['usage'],
      ok: 200,
    },
  },
  '/v1/tenants/{id}/quotas/{quota}/reserve': {
    post: {
      summary: 'Reserve a counted quota (maxUsers, maxProjects) atomically; 409 quota_exceeded when none is left',
      tags: ['usage'],
      body: 'QuotaAmount',
      ok: 200,
    },
  },
  '/v1/tenants/{id}/quotas/{quota}/release': {
    post: { summary: 'Give back a counted quota', tags: ['usage'], body: 'QuotaAmount', ok: 200 },
  },
  '/v1/tenants/{id}/quotas/{quota}': {
    put: { summary: "Set a counted quota's use to the app's true count", tags: ['usage'], body: 'QuotaSet', ok: 200 },
  },
  '/v1/tenants/{id}/objects': {
    get: {
      summary: "List the tenant's objects (key order, cursor after)",
      tags: ['objects'],
      query: objectListQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/objects/{key}': {
    put: {
      summary: 'Write an object (raw body, any media type, at most 16 MiB); 409 quota_exceeded over storageLimitBytes',
      tags: ['objects'],
      body: 'ObjectBody',
      ok: 201,
    },
    get: { summary: 'Read an object (its stored media type, ETag)', tags: ['objects'], ok: 200, raw: true },
    delete: { summary: 'Delete an object (a missing one is success)', tags: ['objects'], ok: 200 },
  },
  '/healthz': { get: { summary: 'Liveness', tags: ['system'], ok: 200, public: true } },
  '/readyz': { get: { summary: 'Readiness (database reachable)', tags: ['system'], ok: 200, public: true } },
  '/metrics': { get: { summary: 'Prometheus metrics', tags: ['system'], ok: 200, public: true } },
  '/.well-known/jwks.json': {
    get: { summary: 'Public keys that verify Tenancy JWTs', tags: ['access'], ok: 200, public: true },
  },
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  delete s.$schema;
  return s;
}

function component(schema: z.ZodType): Record<string, unknown> {
  const s = jsonSchema(schema);
  const defs = (s.$defs ?? {}) as Record<string, Record<string, unknown>>;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.replace('#/$defs/', '');
    const { [name]: main, ...rest } = defs;
    return rewriteRefs({ ...main, ...(Object.keys(rest).length > 0 ? { $defs: rest } : {}) }) as Record<
      string,
      unknown
    >;
  }
  return rewriteRefs(s) as Record<string, unknown>;
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', '#/components/schemas/') : rewriteRefs(v),
      ]),
    );
  }
  return value;
}

/** Build the OpenAPI document. */
export function buildOpenApi(version: string): Record<string, unknown> {
  const problem = {
    type: 'object',
    required: ['type', 'title', 'status', 'detail', 'code'],
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      code: { type: 'string', description: 'Stable snake_case error code' },
      instance: { type: 'string' },
      correlationId: { type: 'string' },
      errors: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'message'],
          properties: { path: { type: 'string', description: 'JSON pointer' }, message: { type: 'string' } },
        },
      },
    },
  };
  const manifest = component(tenantManifestSchema);
  const schemas: Record<string, unknown> = {
    Problem: problem,
    TenantManifest: manifest,
    TenantPatch: {
      type: 'object',
      description: 'RFC 7396 merge patch of the manifest; only spec and metadata.labels may change.',
      properties: {
        spec: { type: 'object' },
        metadata: {
          type: 'object',
          properties: { labels: { type: 'object', additionalProperties: { type: ['string', 'null'] } } },
          additionalProperties: false,
        },
      },
      additionalProperties: false,
    },
    Tenant: {
      type: 'object',
      required: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
      properties: {
        apiVersion: { const: 'tenancy/v1' },
        kind: { const: 'Tenant' },
        metadata: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            uid: { type: 'string', format: 'uuid' },
            generation: { type: 'integer' },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
            labels: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
        spec: { $ref: '#/components/schemas/TenantSpec' },
        status: {
          type: 'object',
          properties: {
            phase: {
              enum: ['provisioning', 'active', 'suspended', 'archiving', 'archived', 'deleting', 'deleted', 'failed'],
            },
            observedGeneration: { type: 'integer' },
            reason: { type: ['string', 'null'] },
            conditions: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  type: { type: 'string' },
                  status: { enum: ['True', 'False', 'Unknown'] },
                  reason: { type: 'string' },
                  message: { type: 'string' },
                  lastTransitionTime: { type: 'string', format: 'date-time' },
                },
              },
            },
          },
        },
      },
    },
    VerbRequest: {
      type: 'object',
      properties: { reason: { type: 'string', maxLength: 500 } },
      additionalProperties: false,
    },
    ApplyBundle: component(bundleSchema),
    NewTenantApiKey: component(tenantKeySchema),
    NewPlatformApiKey: component(platformKeySchema),
    TokenRequest: component(tokenRequestSchema),
    PutSecret: component(putSecretSchema),
    RetireKeys: component(retireSchema),
    NewWebhook: component(createWebhookSchema),
    WebhookPatch: component(updateWebhookSchema),
    RotateWebhookSecret: component(rotateSecretSchema),
    MigrationRun: component(migrationRunSchema),
    VerifyIsolation: component(verifyIsolationSchema),
    UsageBatch: component(usageBatchSchema),
    TenantUsageBatch: component(tenantUsageBatchSchema),
    QuotaAmount: component(quotaAmountSchema),
    QuotaSet: component(quotaSetSchema),
    ObjectBody: {
      type: 'string',
      contentMediaType: 'application/octet-stream',
      description: 'The object bytes; Content-Type is stored with it',
    },
    ApprovalDecision: component(decisionSchema),
    SovereigntyCheck: component(sovereigntyCheckSchema),
    LineageBatch: component(lineageBatchSchema),
    PolicyInput: component(policyInputSchema),
    NewPolicyKey: component(policyKeySchema),
    PolicyEvaluation: component(evaluateSchema),
    PolicySampleInput: component(recordSampleSchema),
    PolicyRollout: component(rolloutSchema),
    PolicyRolloutDecision: component(rolloutDecisionSchema),
    AppAuditEvent: component(appAuditEventSchema),
  };
  // Named sub-schemas (zod `.meta({ id })`) become components of their own.
  for (const schema of Object.values(schemas)) {
    const defs = (schema as { $defs?: Record<string, unknown> }).$defs;
    if (!defs) continue;
    for (const [name, def] of Object.entries(defs)) schemas[name] ??= def;
    delete (schema as { $defs?: unknown }).$defs;
  }

  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, ops] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(ops)) {
      const parameters: unknown[] = [];
      if (path.includes('{id}')) parameters.push(tenantPath);
      if (path.includes('{name}'))
        parameters.push({
          name: 'name',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' },
        });
      if (path.includes('{webhookId}'))
        parameters.push({
          name: 'webhookId',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: '^wh_[0-9a-f]{24}$' },
        });
      if (path.includes('{deliveryId}'))
        parameters.push({ name: 'deliveryId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
      if (path.includes('{policyKeyId}'))
        parameters.push({
          name: 'policyKeyId',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
        });
      if (path.includes('{version}'))
        parameters.push({ name: 'version', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } });
      for (const p of ['domainId', 'usecaseId'])
        if (path.includes(`{${p}}`))
          parameters.push({
            name: p,
            in: 'path',
            required: true,
            schema: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$' },
          });
      if (path.includes('{sampleName}'))
        parameters.push({ name: 'sampleName', in: 'path', required: true, schema: { type: 'string' } });
      if (path.includes('{jobId}'))
        parameters.push({ name: 'jobId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
      if (path.includes('{quota}'))
        parameters.push({ name: 'quota', in: 'path', required: true, schema: { enum: ['maxUsers', 'maxProjects'] } });
      if (path.includes('{key}'))
        parameters.push({
          name: 'key',
          in: 'path',
          required: true,
          schema: { type: 'string', maxLength: 1024 },
          description: 'Object key; may contain "/"',
        });
      if (path.includes('{approvalId}'))
        parameters.push({
          name: 'approvalId',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: '^apr_[0-9a-f]{24}$' },
        });
      if (path.includes('{keyId}'))
        parameters.push({
          name: 'keyId',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: '^[0-9a-z]{16}$' },
        });
      if (op.query) {
        const q = jsonSchema(op.query) as { properties?: Record<string, unknown> };
        for (const [name, schema] of Object.entries(q.properties ?? {}))
          parameters.push({ name, in: 'query', required: false, schema });
      }
      if (op.ifMatch)
        parameters.push({
          name: 'If-Match',
          in: 'header',
          required: false,
          schema: { type: 'string' },
          description: 'ETag ("<generation>") the change is based on; 412 when it moved on',
        });
      if (op.idempotent)
        parameters.push({
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          schema: { type: 'string', maxLength: 255 },
          description: 'A repeat with the same key returns the first (2xx) response',
        });
      if (!op.public && path.startsWith('/v1/'))
        parameters.push({
          name: 'X-Tenant-ID',
          in: 'header',
          required: false,
          schema: { type: 'string' },
          description: 'Platform callers: the tenant to act on',
        });
      parameters.push({
        name: 'X-Request-Id',
        in: 'header',
        required: false,
        schema: { type: 'string' },
        description: 'Correlation id (echoed; also taken from traceparent)',
      });
      const okContent = op.okType
        ? {
            [op.okType]: {
              schema: { type: 'string', ...(op.okType === 'application/pdf' ? { format: 'binary' } : {}) },
            },
          }
        : op.raw
          ? { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } }
          : {
              ...(op.okSchema
                ? { 'application/json': { schema: { $ref: `#/components/schemas/${op.okSchema}` } } }
                : { 'application/json': { schema: { type: 'object' } } }),
              ...(op.csv ? { 'text/csv': { schema: { type: 'string' } } } : {}),
            };
      paths[path]![method] = {
        summary: op.summary,
        tags: op.tags,
        operationId: `${method}${path.replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(op.public ? { security: [] } : {}),
        ...(op.body
          ? {
              requestBody: {
                required:
                  op.body !== 'RotateWebhookSecret' &&
                  op.body !== 'QuotaAmount' &&
                  op.body !== 'ApprovalDecision' &&
                  op.body !== 'PolicyRolloutDecision',
                content: {
                  [op.body === 'ObjectBody'
                    ? '*/*'
                    : method === 'patch'
                      ? 'application/merge-patch+json'
                      : 'application/json']: { schema: { $ref: `#/components/schemas/${op.body}` } },
                  ...(op.body === 'TenantManifest' || op.body === 'ApplyBundle' || op.body === 'PolicyInput'
                    ? { 'application/yaml': { schema: { type: 'string' } } }
                    : {}),
                },
              },
            }
          : {}),
        responses: {
          [String(op.ok)]: { description: 'Success', content: okContent },
          default: {
            description: 'Error',
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        },
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tenancy control plane',
      version,
      description: 'Tenant registry, manifests, lifecycle, access and audit.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key (tnc_...) or a JWT from POST /v1/tokens' },
      },
      schemas,
    },
    paths,
  };
}

/** A self-contained HTML page listing the operations (no external scripts). */
export function docsPage(doc: Record<string, unknown>): string {
  const esc = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(
    doc.paths as Record<string, Record<string, { summary: string; tags: string[] }>>,
  )) {
    for (const [method, op] of Object.entries(ops)) {
      rows.push(
        `<tr><td class="m ${method}">${method.toUpperCase()}</td><td><code>${esc(path)}</code></td><td>${esc(op.summary)}</td><td>${esc(op.tags.join(', '))}</td></tr>`,
      );
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tenancy API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}td{padding:.35rem .5rem;border-bottom:1px solid #ddd}.m{font-weight:600;font-family:monospace}.get{color:#0a6}.post{color:#06c}.patch{color:#a60}.delete{color:#c22}</style>
</head><body><h1>Tenancy control plane API</h1><p>Version ${esc(String((doc.info as { version: string }).version))}. The machine-readable description is at <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Errors are <code>application/problem+json</code> with a stable <code>code</code>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Tag</th></tr></thead><tbody>${rows.join('')}</tbody></table></body></html>`;
}
