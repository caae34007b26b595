/**
 * OpenAPI operations of the governance area, in the order the document lists them.
 */
import { approvalListQuerySchema, driftListQuerySchema, lineageQuerySchema } from '../routes/governance-routes.js';
import type { Operations } from './operation.js';

/** Approvals, sovereignty checks, lineage and drift. */
export const governancePaths: Operations = {
  '/v1/approvals': {
    get: {
      summary: 'List approvals, newest first (a tenant caller sees its own)',
      tags: ['governance'],
      query: approvalListQuerySchema,
      ok: 200,
    },
  },
  '/v1/approvals/{approvalId}': {
    get: { summary: 'Read an approval: the proposed change, its base and the decision', tags: ['governance'], ok: 200 },
  },
  '/v1/approvals/{approvalId}/approve': {
    post: {
      summary: 'Approve and apply the change (not by its requester; 409 approval_stale when the tenant changed since)',
      tags: ['governance'],
      body: 'ApprovalDecision',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/approvals/{approvalId}/reject': {
    post: {
      summary: 'Reject the change (its requester may reject to withdraw it)',
      tags: ['governance'],
      body: 'ApprovalDecision',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/approvals/{approvalId}/report.pdf': {
    get: {
      summary: 'The approval as a PDF report with its audit trail',
      tags: ['governance'],
      ok: 200,
      okType: 'application/pdf',
    },
  },
  '/v1/tenants/{id}/sovereignty/check': {
    post: {
      summary: "Would an operation meet the tenant's data-sovereignty rules? {allowed, violations}",
      tags: ['governance'],
      body: 'SovereigntyCheck',
      ok: 200,
    },
  },
  '/v1/tenants/{id}/lineage': {
    post: {
      summary: 'Record a batch of lineage records (all or nothing)',
      tags: ['governance'],
      body: 'LineageBatch',
      ok: 201,
      idempotent: true,
    },
    get: {
      summary: 'Lineage records in time order (filters, cursor pagination)',
      tags: ['governance'],
      query: lineageQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/lineage/export': {
    get: {
      summary: 'Every matching lineage record as JSON Lines, streamed',
      tags: ['governance'],
      query: lineageQuerySchema.omit({ cursor: true, limit: true }),
      ok: 200,
      okType: 'application/x-ndjson',
    },
  },
  '/v1/tenants/{id}/governance/drift': {
    get: {
      summary:
        "The tenant's drift figures: policy changes, trust against its baseline, quality trend, policy conflicts",
      tags: ['governance'],
      ok: 200,
    },
  },
  '/v1/governance/drift': {
    get: {
      summary: 'The drift map across tenants (paged by tenant id) with conflicts between tenant policies',
      tags: ['governance'],
      query: driftListQuerySchema,
      ok: 200,
    },
  },
};
