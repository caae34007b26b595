/**
 * The OpenAPI 3.1 document, assembled from the operations of each API area and the shared component schemas.
 */
import { accessPaths } from './access-paths.js';
import { aiPaths } from './ai-paths.js';
import { auditPaths } from './audit-paths.js';
import { componentSchemas } from './component-schemas.js';
import { eventPaths } from './event-paths.js';
import { governancePaths } from './governance-paths.js';
import { jobPaths } from './job-paths.js';
import { keyPaths, rootKeyPaths } from './key-paths.js';
import type { Op, Operations } from './operation.js';
import { operationParameters } from './parameters.js';
import { policyPaths } from './policy-paths.js';
import { reportPaths } from './report-paths.js';
import { retrievalPaths } from './retrieval-paths.js';
import { routerAdminPaths } from './router-admin-paths.js';
import { systemPaths } from './system-paths.js';
import { tenantPaths } from './tenant-paths.js';
import { usagePaths } from './usage-paths.js';
import { verifyPaths } from './verify-paths.js';

/** Every operation; the spread order is the order of `paths` in the document. */
const OPERATIONS: Operations = {
  ...governancePaths,
  ...tenantPaths,
  ...accessPaths,
  ...keyPaths,
  ...verifyPaths,
  ...rootKeyPaths,
  ...auditPaths,
  ...eventPaths,
  ...policyPaths,
  ...jobPaths,
  ...usagePaths,
  ...reportPaths,
  ...aiPaths,
  ...routerAdminPaths,
  ...retrievalPaths,
  ...systemPaths,
};

/** The OpenAPI operation object of `op`: parameters, request body, success and problem responses. */
function buildOperation(path: string, method: string, op: Op): Record<string, unknown> {
  const parameters = operationParameters(path, op);
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
          ...(op.pdf ? { 'application/pdf': { schema: { type: 'string', format: 'binary' } } } : {}),
          ...(op.stream
            ? {
                'text/event-stream': {
                  schema: { type: 'string', description: 'data: <chunk JSON> events, then data: [DONE]' },
                },
              }
            : {}),
        };
  return {
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
      [String(op.ok)]: op.ok === 204 ? { description: 'Success' } : { description: 'Success', content: okContent },
      default: {
        description: 'Error',
        content: op.openAi
          ? { 'application/json': { schema: { $ref: '#/components/schemas/OpenAiError' } } }
          : { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      },
    },
  };
}

/** Build the OpenAPI document. */
export function buildOpenApi(version: string): Record<string, unknown> {
  const schemas = componentSchemas();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, ops] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(ops)) paths[path]![method] = buildOperation(path, method, op);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tenancy control plane',
      version,
      description: 'Tenant registry, manifests, lifecycle, access and audit; the model router (/v1/ai).',
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
