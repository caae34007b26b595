/**
 * OpenAPI operations of the keys area, in the order the document lists them.
 */
import type { Operations } from './operation.js';

/** A tenant's secrets and its key versions. */
export const keyPaths: Operations = {
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
};

/** The platform root key. */
export const rootKeyPaths: Operations = {
  '/v1/root-key/rotate': {
    post: {
      summary: 'Rotate the root key: rewrap every tenant key, data untouched',
      tags: ['keys'],
      ok: 200,
      idempotent: true,
    },
  },
};
