/**
 * The OpenAPI 3.1 description, generated from the same zod schemas that validate requests,
 * and a small self-contained HTML page that lists it.
 */
import { z } from 'zod';
import { platformKeySchema, tenantKeySchema, tokenRequestSchema } from './routes/access-routes.js';
import { appAuditEventSchema, auditQuerySchema } from './routes/audit-routes.js';
import { eventQuerySchema } from './routes/event-routes.js';
import { createWebhookSchema, deliveryQuerySchema, rotateSecretSchema, updateWebhookSchema, webhookListQuerySchema } from './routes/webhook-routes.js';
import { putSecretSchema, retireSchema } from './routes/key-routes.js';
import { jobsQuerySchema, migrationRunSchema } from './routes/job-routes.js';
import { listQuerySchema } from './routes/tenant-routes.js';
import { bundleSchema, tenantManifestSchema } from '../tenants/index.js';

type Op = { summary: string; tags: string[]; body?: string; query?: z.ZodObject; ok: number; okSchema?: string; ifMatch?: boolean; idempotent?: boolean; public?: boolean };

const tenantPath = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' } };

const OPERATIONS: Record<string, Record<string, Op>> = {
  '/v1/tenants': {
    post: { summary: 'Create a tenant (JSON or YAML manifest)', tags: ['tenants'], body: 'TenantManifest', ok: 201, okSchema: 'Tenant', idempotent: true },
    get: { summary: 'List tenants (filters, label selector, cursor pagination)', tags: ['tenants'], query: listQuerySchema, ok: 200 },
  },
  '/v1/tenants/{id}': {
    get: { summary: 'Read a tenant (ETag = generation)', tags: ['tenants'], ok: 200, okSchema: 'Tenant' },
    patch: { summary: 'JSON merge patch of spec and metadata.labels', tags: ['tenants'], body: 'TenantPatch', ok: 200, okSchema: 'Tenant', ifMatch: true },
    delete: { summary: 'Delete (soft; purged after retentionDays)', tags: ['tenants'], ok: 202, okSchema: 'Tenant', ifMatch: true },
  },
  '/v1/tenants/{id}/context': { get: { summary: 'The tenant context: effective quotas, features, topology', tags: ['tenants'], ok: 200 } },
  '/v1/tenants/{id}/connection': { get: { summary: "The tenant runtime's connection descriptor (database URL with its own role, bucket and prefix, stream and subject); audited", tags: ['tenants'], ok: 200 } },
  '/v1/tenants/{id}/resources': { get: { summary: "The tenant's isolated resources and its Kubernetes isolation plan", tags: ['tenants'], ok: 200 } },
  '/v1/tenants/{id}/documents': { get: { summary: 'Documents of the tenant folder (features, router, sovereignty, policies)', tags: ['tenants'], ok: 200 } },
  '/v1/tenants/{id}/suspend': { post: { summary: 'Suspend (reason required)', tags: ['lifecycle'], body: 'VerbRequest', ok: 200, okSchema: 'Tenant', idempotent: true } },
  '/v1/tenants/{id}/resume': { post: { summary: 'Resume a suspended tenant', tags: ['lifecycle'], body: 'VerbRequest', ok: 200, okSchema: 'Tenant', idempotent: true } },
  '/v1/tenants/{id}/archive': { post: { summary: 'Archive', tags: ['lifecycle'], body: 'VerbRequest', ok: 200, okSchema: 'Tenant', idempotent: true } },
  '/v1/tenants/{id}/restore': { post: { summary: 'Restore an archived tenant', tags: ['lifecycle'], body: 'VerbRequest', ok: 200, okSchema: 'Tenant', idempotent: true } },
  '/v1/apply': { post: { summary: 'Apply a bundle of manifests, all or nothing (dryRun for the plan)', tags: ['tenants'], body: 'ApplyBundle', ok: 200, idempotent: true } },
  '/v1/tenants/{id}/api-keys': {
    post: { summary: 'Create a tenant API key (token shown once)', tags: ['access'], body: 'NewTenantApiKey', ok: 201, idempotent: true },
    get: { summary: "List a tenant's API keys", tags: ['access'], ok: 200 },
  },
  '/v1/tenants/{id}/api-keys/{keyId}': { delete: { summary: 'Revoke a tenant API key', tags: ['access'], ok: 200 } },
  '/v1/api-keys': {
    post: { summary: 'Create a platform API key', tags: ['access'], body: 'NewPlatformApiKey', ok: 201, idempotent: true },
    get: { summary: 'List platform API keys', tags: ['access'], ok: 200 },
  },
  '/v1/api-keys/{keyId}': { delete: { summary: 'Revoke a platform API key', tags: ['access'], ok: 200 } },
  '/v1/principal': { get: { summary: 'The calling credential\'s principal (key id, role, tenant); used by the SDK to resolve API keys', tags: ['access'], ok: 200 } },
  '/v1/tokens': { post: { summary: 'Exchange the calling API key for a short-lived EdDSA JWT', tags: ['access'], body: 'TokenRequest', ok: 200, idempotent: true } },
  '/v1/tenants/{id}/secrets': { get: { summary: "List a tenant's secrets (names and versions, never values)", tags: ['keys'], ok: 200 } },
  '/v1/tenants/{id}/secrets/{name}': {
    put: { summary: 'Store a new version of a secret (encrypted with the tenant key)', tags: ['keys'], body: 'PutSecret', ok: 201 },
    get: { summary: 'Read a secret (latest, or ?version=N); every read is audited', tags: ['keys'], ok: 200 },
    delete: { summary: 'Delete every version of a secret', tags: ['keys'], ok: 200 },
  },
  '/v1/tenants/{id}/keys': { get: { summary: "The tenant's key versions and their states", tags: ['keys'], ok: 200 } },
  '/v1/tenants/{id}/keys/rotate': { post: { summary: 'Rotate the tenant key now (old versions still decrypt)', tags: ['keys'], ok: 200, idempotent: true } },
  '/v1/tenants/{id}/keys/rewrap': { post: { summary: 'Re-encrypt stored secrets under the active key version', tags: ['keys'], ok: 200, idempotent: true } },
  '/v1/tenants/{id}/keys/retire': { post: { summary: 'Stop versions below minVersion from decrypting', tags: ['keys'], body: 'RetireKeys', ok: 200, idempotent: true } },
  '/v1/root-key/rotate': { post: { summary: 'Rotate the root key: rewrap every tenant key, data untouched', tags: ['keys'], ok: 200, idempotent: true } },
  '/v1/audit': { get: { summary: 'Audit records (a tenant caller sees its own only)', tags: ['audit'], query: auditQuerySchema, ok: 200 } },
  '/v1/tenants/{id}/audit-events': { post: { summary: "Append an app event to the tenant's audit stream (action app.<action>, same hash chain)", tags: ['audit'], body: 'AppAuditEvent', ok: 201 } },
  '/v1/audit/verify': { get: { summary: 'Verify the hash chain and signed checkpoints', tags: ['audit'], ok: 200 } },
  '/v1/events': { get: { summary: 'Replay events as CloudEvents 1.0, oldest first (cursor: after = seq); a tenant caller sees its own only', tags: ['events'], query: eventQuerySchema, ok: 200 } },
  '/v1/webhooks': {
    post: { summary: 'Create a webhook endpoint (platform-wide, or one tenant\'s); the signing secret is shown once', tags: ['webhooks'], body: 'NewWebhook', ok: 201, idempotent: true },
    get: { summary: 'List webhook endpoints (a tenant caller sees its own only)', tags: ['webhooks'], query: webhookListQuerySchema, ok: 200 },
  },
  '/v1/webhooks/{webhookId}': {
    get: { summary: 'Read a webhook endpoint (never its secret)', tags: ['webhooks'], ok: 200 },
    patch: { summary: 'Change url, eventTypes, enabled or description (merge patch)', tags: ['webhooks'], body: 'WebhookPatch', ok: 200 },
    delete: { summary: 'Delete a webhook endpoint and its delivery log', tags: ['webhooks'], ok: 200 },
  },
  '/v1/webhooks/{webhookId}/rotate-secret': { post: { summary: 'New signing secret (shown once); the old one also signs during the overlap', tags: ['webhooks'], body: 'RotateWebhookSecret', ok: 200, idempotent: true } },
  '/v1/webhooks/{webhookId}/deliveries': { get: { summary: 'Deliveries with every attempt (status code, duration, error, next retry)', tags: ['webhooks'], query: deliveryQuerySchema, ok: 200 } },
  '/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver': { post: { summary: 'Deliver again now', tags: ['webhooks'], ok: 202, idempotent: true } },
  '/v1/tenants/{id}/migrations': { get: { summary: 'App migrations applied to the tenant, per environment', tags: ['migrations'], ok: 200 } },
  '/v1/migrations': { post: { summary: "Roll the app's migrations out across tenants in waves (a job; 202 with Location)", tags: ['migrations'], body: 'MigrationRun', ok: 202 } },
  '/v1/jobs': { get: { summary: 'Jobs, newest first (a tenant caller sees its own only)', tags: ['jobs'], query: jobsQuerySchema, ok: 200 } },
  '/v1/jobs/{jobId}': { get: { summary: 'A job: state, progress, attempts, last error, result', tags: ['jobs'], ok: 200 } },
  '/healthz': { get: { summary: 'Liveness', tags: ['system'], ok: 200, public: true } },
  '/readyz': { get: { summary: 'Readiness (database reachable)', tags: ['system'], ok: 200, public: true } },
  '/metrics': { get: { summary: 'Prometheus metrics', tags: ['system'], ok: 200, public: true } },
  '/.well-known/jwks.json': { get: { summary: 'Public keys that verify Tenancy JWTs', tags: ['access'], ok: 200, public: true } },
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

function component(schema: z.ZodType): Record<string, unknown> {
  const s = jsonSchema(schema);
  const defs = (s.$defs ?? {}) as Record<string, Record<string, unknown>>;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.replace('#/$defs/', '');
    const { [name]: main, ...rest } = defs;
    return rewriteRefs({ ...main, ...(Object.keys(rest).length > 0 ? { $defs: rest } : {}) }) as Record<string, unknown>;
  }
  return rewriteRefs(s) as Record<string, unknown>;
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', '#/components/schemas/') : rewriteRefs(v)]));
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
      errors: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string', description: 'JSON pointer' }, message: { type: 'string' } } } },
    },
  };
  const manifest = component(tenantManifestSchema);
  const schemas: Record<string, unknown> = {
    Problem: problem,
    TenantManifest: manifest,
    TenantPatch: {
      type: 'object',
      description: 'RFC 7396 merge patch of the manifest; only spec and metadata.labels may change.',
      properties: { spec: { type: 'object' }, metadata: { type: 'object', properties: { labels: { type: 'object', additionalProperties: { type: ['string', 'null'] } } }, additionalProperties: false } },
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
          properties: { id: { type: 'string' }, uid: { type: 'string', format: 'uuid' }, generation: { type: 'integer' }, createdAt: { type: 'string', format: 'date-time' }, updatedAt: { type: 'string', format: 'date-time' }, labels: { type: 'object', additionalProperties: { type: 'string' } } },
        },
        spec: { $ref: '#/components/schemas/TenantSpec' },
        status: {
          type: 'object',
          properties: {
            phase: { enum: ['provisioning', 'active', 'suspended', 'archiving', 'archived', 'deleting', 'deleted', 'failed'] },
            observedGeneration: { type: 'integer' },
            reason: { type: ['string', 'null'] },
            conditions: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, status: { enum: ['True', 'False', 'Unknown'] }, reason: { type: 'string' }, message: { type: 'string' }, lastTransitionTime: { type: 'string', format: 'date-time' } } } },
          },
        },
      },
    },
    VerbRequest: { type: 'object', properties: { reason: { type: 'string', maxLength: 500 } }, additionalProperties: false },
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
    AppAuditEvent: component(appAuditEventSchema),
  };
  const defs = (manifest as { $defs?: Record<string, unknown> }).$defs ?? {};
  for (const [name, def] of Object.entries(defs)) schemas[name] = def;
  delete (manifest as { $defs?: unknown }).$defs;

  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, ops] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(ops)) {
      const parameters: unknown[] = [];
      if (path.includes('{id}')) parameters.push(tenantPath);
      if (path.includes('{name}')) parameters.push({ name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' } });
      if (path.includes('{webhookId}')) parameters.push({ name: 'webhookId', in: 'path', required: true, schema: { type: 'string', pattern: '^wh_[0-9a-f]{24}$' } });
      if (path.includes('{deliveryId}')) parameters.push({ name: 'deliveryId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
      if (path.includes('{jobId}')) parameters.push({ name: 'jobId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
      if (path.includes('{keyId}')) parameters.push({ name: 'keyId', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-z]{16}$' } });
      if (op.query) {
        const q = jsonSchema(op.query) as { properties?: Record<string, unknown> };
        for (const [name, schema] of Object.entries(q.properties ?? {})) parameters.push({ name, in: 'query', required: false, schema });
      }
      if (op.ifMatch) parameters.push({ name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'ETag ("<generation>") the change is based on; 412 when it moved on' });
      if (op.idempotent) parameters.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 }, description: 'A repeat with the same key returns the first (2xx) response' });
      if (!op.public && path.startsWith('/v1/')) parameters.push({ name: 'X-Tenant-ID', in: 'header', required: false, schema: { type: 'string' }, description: 'Platform callers: the tenant to act on' });
      parameters.push({ name: 'X-Request-Id', in: 'header', required: false, schema: { type: 'string' }, description: 'Correlation id (echoed; also taken from traceparent)' });
      const okContent = op.okSchema ? { 'application/json': { schema: { $ref: `#/components/schemas/${op.okSchema}` } } } : { 'application/json': { schema: { type: 'object' } } };
      paths[path]![method] = {
        summary: op.summary,
        tags: op.tags,
        operationId: `${method}${path.replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(op.public ? { security: [] } : {}),
        ...(op.body
          ? {
              requestBody: {
                required: op.body !== 'RotateWebhookSecret',
                content: {
                  [method === 'patch' ? 'application/merge-patch+json' : 'application/json']: { schema: { $ref: `#/components/schemas/${op.body}` } },
                  ...(op.body === 'TenantManifest' || op.body === 'ApplyBundle' ? { 'application/yaml': { schema: { type: 'string' } } } : {}),
                },
              },
            }
          : {}),
        responses: {
          [String(op.ok)]: { description: 'Success', content: okContent },
          default: { description: 'Error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
        },
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tenancy control plane', version, description: 'Tenant registry, manifests, lifecycle, access and audit.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key (tnc_...) or a JWT from POST /v1/tokens' } }, schemas },
    paths,
  };
}

/** A self-contained HTML page listing the operations (no external scripts). */
export function docsPage(doc: Record<string, unknown>): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { summary: string; tags: string[] }>>)) {
    for (const [method, op] of Object.entries(ops)) {
      rows.push(`<tr><td class="m ${method}">${method.toUpperCase()}</td><td><code>${esc(path)}</code></td><td>${esc(op.summary)}</td><td>${esc(op.tags.join(', '))}</td></tr>`);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tenancy API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}td{padding:.35rem .5rem;border-bottom:1px solid #ddd}.m{font-weight:600;font-family:monospace}.get{color:#0a6}.post{color:#06c}.patch{color:#a60}.delete{color:#c22}</style>
</head><body><h1>Tenancy control plane API</h1><p>Version ${esc(String((doc.info as { version: string }).version))}. The machine-readable description is at <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Errors are <code>application/problem+json</code> with a stable <code>code</code>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Tag</th></tr></thead><tbody>${rows.join('')}</tbody></table></body></html>`;
}
