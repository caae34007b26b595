/**
 * OpenAPI operations of the access area, in the order the document lists them.
 */
import type { Operations } from './operation.js';

/** API keys, the calling principal and tokens. */
export const accessPaths: Operations = {
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
};
