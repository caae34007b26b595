/**
 * The shared component schemas of the OpenAPI document: the problem body, the tenant shapes and
 * every request body, generated from the zod schemas that validate the requests.
 */
import { z } from 'zod';
import {
  chatRequestSchema,
  embeddingsRequestSchema,
  modelProviderDocumentSchema,
  routerSpecSchema,
} from '../../ai/index.js';
import {
  batchSchema,
  corpusConfigSchema,
  documentSchema,
  retrievalPolicySpecSchema,
  retrieveSchema,
} from '../../retrieval/index.js';
import { releaseBodySchema } from '../routes/retrieval-routes.js';
import { tenantUsageBatchSchema, usageBatchSchema } from '../../commercial/index.js';
import { lineageBatchSchema, policyInputSchema } from '../../governance/index.js';
import { bundleSchema, tenantManifestSchema } from '../../tenants/index.js';
import { platformKeySchema, tenantKeySchema, tokenRequestSchema } from '../routes/access-routes.js';
import { appAuditEventSchema } from '../routes/audit-routes.js';
import { decisionSchema, sovereigntyCheckSchema } from '../routes/governance-routes.js';
import { migrationRunSchema } from '../routes/job-routes.js';
import { putSecretSchema, retireSchema } from '../routes/key-routes.js';
import {
  evaluateSchema,
  policyKeySchema,
  recordSampleSchema,
  rolloutDecisionSchema,
  rolloutSchema,
} from '../routes/policy-routes.js';
import { quotaAmountSchema, quotaSetSchema } from '../routes/usage-routes.js';
import { putPlatformSecretSchema } from '../routes/router-admin-routes.js';
import { verifyIsolationSchema } from '../routes/verify-routes.js';
import { createWebhookSchema, rotateSecretSchema, updateWebhookSchema } from '../routes/webhook-routes.js';

/** The JSON Schema (draft 2020-12, input side) of a zod schema, without its `$schema` key. */
export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
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

/**
 * Every component schema, named sub-schemas (zod `.meta({ id })`) included as components of their own.
 * Built afresh on each call, as the caller owns the result.
 */
export function componentSchemas(): Record<string, unknown> {
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
    ChatCompletionRequest: component(chatRequestSchema),
    EmbeddingsRequest: component(embeddingsRequestSchema),
    ModelProvider: component(modelProviderDocumentSchema),
    TenantRouterSpec: component(routerSpecSchema),
    PlatformSecretPut: component(putPlatformSecretSchema),
    CorpusConfig: component(corpusConfigSchema),
    CorpusDocument: component(documentSchema),
    RetrieveRequest: component(retrieveSchema),
    CorpusBatch: component(batchSchema),
    ReleaseRequest: component(releaseBodySchema),
    RetrievalPolicySpec: component(retrievalPolicySpecSchema),
    OpenAiError: {
      type: 'object',
      description: "The model router's errors, in OpenAI's shape so OpenAI clients parse them; code is the stable code",
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['message', 'type', 'param', 'code'],
          properties: {
            message: { type: 'string' },
            type: { type: 'string', description: 'invalid_request_error, not_found_error, insufficient_quota, …' },
            param: { type: ['string', 'null'], description: 'the offending field, e.g. messages[0].role' },
            code: { type: 'string', description: 'Stable snake_case error code' },
          },
        },
      },
    },
  };
  // Named sub-schemas (zod `.meta({ id })`) become components of their own.
  for (const schema of Object.values(schemas)) {
    const defs = (schema as { $defs?: Record<string, unknown> }).$defs;
    if (!defs) continue;
    for (const [name, def] of Object.entries(defs)) schemas[name] ??= def;
    delete (schema as { $defs?: unknown }).$defs;
  }
  return schemas;
}
