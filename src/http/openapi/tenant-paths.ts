/**
 * OpenAPI operations of the tenants area, in the order the document lists them.
 */
import { listQuerySchema } from '../routes/tenant-routes.js';
import type { Operations } from './operation.js';

/** The tenant registry, its lifecycle verbs and GitOps apply. */
export const tenantPaths: Operations = {
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
        "Apply a bundle of manifests, all or nothing (dryRun for the plan; 202 with a pending approval when a tenant's governance requires one); ModelProvider documents go to the model catalogue",
      tags: ['tenants'],
      body: 'ApplyBundle',
      ok: 200,
      idempotent: true,
    },
  },
};
