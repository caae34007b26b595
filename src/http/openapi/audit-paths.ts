/**
 * OpenAPI operations of the audit area, in the order the document lists them.
 */
import { auditQuerySchema } from '../routes/audit-routes.js';
import type { Operations } from './operation.js';

/** The audit log: its query, app events and chain verification. */
export const auditPaths: Operations = {
  '/v1/audit': {
    get: {
      summary: 'Audit records (a tenant caller sees its own only)',
      tags: ['audit'],
      query: auditQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/audit-events': {
    post: {
      summary: "Append an app event to the tenant's audit stream (action app.<action>, same hash chain)",
      tags: ['audit'],
      body: 'AppAuditEvent',
      ok: 201,
    },
  },
  '/v1/audit/verify': {
    get: {
      summary:
        'Verify the hash chain, the signed checkpoints, and both against the anchors kept outside the database (named in `anchors`)',
      tags: ['audit'],
      ok: 200,
    },
  },
};
