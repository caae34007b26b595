/**
 * OpenAPI operations of the system endpoints, in the order the document lists them.
 */
import type { Operations } from './operation.js';

/** Public probes, metrics and the JWKS. */
export const systemPaths: Operations = {
  '/healthz': { get: { summary: 'Liveness', tags: ['system'], ok: 200, public: true } },
  '/readyz': { get: { summary: 'Readiness (database reachable)', tags: ['system'], ok: 200, public: true } },
  '/metrics': { get: { summary: 'Prometheus metrics', tags: ['system'], ok: 200, public: true } },
  '/.well-known/jwks.json': {
    get: { summary: 'Public keys that verify Tenancy JWTs', tags: ['access'], ok: 200, public: true },
  },
};
