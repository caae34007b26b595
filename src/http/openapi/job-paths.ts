/**
 * OpenAPI operations of the jobs and migrations area, in the order the document lists them.
 */
import { jobsQuerySchema } from '../routes/job-routes.js';
import type { Operations } from './operation.js';

/** Migration runs and controller jobs. */
export const jobPaths: Operations = {
  '/v1/tenants/{id}/migrations': {
    get: { summary: 'App migrations applied to the tenant, per environment', tags: ['migrations'], ok: 200 },
  },
  '/v1/migrations': {
    post: {
      summary: "Roll the app's migrations out across tenants in waves (a job; 202 with Location)",
      tags: ['migrations'],
      body: 'MigrationRun',
      ok: 202,
    },
  },
  '/v1/jobs': {
    get: {
      summary: 'Jobs, newest first (a tenant caller sees its own only)',
      tags: ['jobs'],
      query: jobsQuerySchema,
      ok: 200,
    },
  },
  '/v1/jobs/{jobId}': {
    get: { summary: 'A job: state, progress, attempts, last error, result', tags: ['jobs'], ok: 200 },
  },
};
