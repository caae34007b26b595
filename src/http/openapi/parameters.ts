/**
 * The parameters of one OpenAPI operation: path parameters recognised by name, the query schema's
 * properties, and the headers every operation or some operations accept.
 */
import { jsonSchema } from './component-schemas.js';
import type { Op } from './operation.js';

const tenantPath = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' },
};

/** The parameters of `op` at `path`, in a fixed order: path, query, then headers. */
export function operationParameters(path: string, op: Op): unknown[] {
  const parameters: unknown[] = [];
  if (path.includes('{id}')) parameters.push(tenantPath);
  if (path.includes('{name}'))
    parameters.push({
      name: 'name',
      in: 'path',
      required: true,
      schema: {
        type: 'string',
        pattern: path.startsWith('/v1/model-providers/')
          ? '^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$'
          : '^[a-z0-9][a-z0-9._-]{0,127}$',
      },
    });
  if (path.includes('{corpus}'))
    parameters.push({
      name: 'corpus',
      in: 'path',
      required: true,
      schema: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' },
    });
  if (path.includes('{docId}'))
    parameters.push({
      name: 'docId',
      in: 'path',
      required: true,
      schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$' },
    });
  if (path.includes('{model}'))
    parameters.push({
      name: 'model',
      in: 'path',
      required: true,
      schema: { type: 'string', maxLength: 128 },
      description: 'A catalogue model name the tenant may use',
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
      description: path.startsWith('/v1/ai/')
        ? 'Platform callers: required, the tenant the call is for (400 tenant_required without it)'
        : 'Platform callers: the tenant to act on',
    });
  parameters.push({
    name: 'X-Request-Id',
    in: 'header',
    required: false,
    schema: { type: 'string' },
    description: 'Correlation id (echoed; also taken from traceparent)',
  });
  return parameters;
}
