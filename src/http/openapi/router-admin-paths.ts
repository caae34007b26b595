/**
 * OpenAPI operations of the model router's administration (router status, the model catalogue,
 * platform secrets), in the order the document lists them.
 */
import type { Operations } from './operation.js';

/** A tenant's router status, the model catalogue and the platform secrets holding provider keys. */
export const routerAdminPaths: Operations = {
  '/v1/tenants/{id}/router': {
    get: {
      summary:
        "The tenant's model router: chain, budget windows (limit, spent, held), breakers of this replica, downgrade",
      tags: ['ai'],
      ok: 200,
    },
  },
  '/v1/model-providers': {
    get: {
      summary: 'The model catalogue: every ModelProvider (written by POST /v1/apply)',
      tags: ['ai'],
      ok: 200,
    },
  },
  '/v1/model-providers/{name}': {
    get: { summary: 'One model provider, with its generation and who last applied it', tags: ['ai'], ok: 200 },
    delete: {
      summary: 'Remove a model provider; its models leave the catalogue and routers naming them skip them',
      tags: ['ai'],
      ok: 204,
    },
  },
  '/v1/platform-secrets': {
    get: { summary: 'Platform secrets: names and latest versions, never values', tags: ['ai'], ok: 200 },
  },
  '/v1/platform-secrets/{name}': {
    put: {
      summary: "Store a new version of a platform secret (a model provider's API key); 200 for later versions",
      tags: ['ai'],
      body: 'PlatformSecretPut',
      ok: 201,
    },
  },
};
