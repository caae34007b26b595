/**
 * OpenAPI operations of the verify area, in the order the document lists them.
 */
import type { Operations } from './operation.js';

/** The isolation self-test. */
export const verifyPaths: Operations = {
  '/v1/verify/isolation': {
    post: {
      summary:
        'Run the isolation self-test: two throw-away tenants attacked from each other over the API and the database, every probe reported, both purged (dryRun: what would run)',
      tags: ['verify'],
      body: 'VerifyIsolation',
      ok: 200,
    },
  },
};
