/**
 * OpenAPI operations of the usage, quotas and objects area, in the order the document lists them.
 */
import {
  objectListQuerySchema,
  reportQuerySchema,
  tenantReportQuerySchema,
  usageQuerySchema,
} from '../routes/usage-routes.js';
import type { Operations } from './operation.js';

/** Usage, reports, quotas and tenant objects. */
export const usagePaths: Operations = {
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
};
