/**
 * OpenAPI operations of the policies area, in the order the document lists them.
 */
import {
  commitQuerySchema,
  conflictQuerySchema,
  diffQuerySchema,
  policyListQuerySchema,
} from '../routes/policy-routes.js';
import type { Operations } from './operation.js';

/** Policy keys, policies, their samples, versions, rollouts and conflicts. */
export const policyPaths: Operations = {
  '/v1/tenants/{id}/policy-keys': {
    post: {
      summary: "Register an Ed25519 public key (JWK or PEM) that may sign the tenant's policies",
      tags: ['policies'],
      body: 'NewPolicyKey',
      ok: 201,
      idempotent: true,
    },
    get: { summary: "The tenant's policy signing keys (public keys)", tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policy-keys/{policyKeyId}': {
    delete: { summary: 'Remove a policy signing key (committed versions stay)', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies': {
    post: {
      summary:
        "Commit a signed policy in four reported stages (parse, validate, sandbox, commit); JSON or YAML; activate=false keeps the stable version, dryRun=true stops before commit; 202 with a pending approval (Location /v1/approvals/{id}) when the tenant's governance requires policyChange",
      tags: ['policies'],
      body: 'PolicyInput',
      query: commitQuerySchema,
      ok: 201,
      idempotent: true,
    },
    get: {
      summary: "The tenant's policies: stable version and any rollout in progress",
      tags: ['policies'],
      query: policyListQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/policies/evaluate': {
    post: {
      summary: 'Decide a request: allow or deny, with the rule, policy and version that decided',
      tags: ['policies'],
      body: 'PolicyEvaluation',
      ok: 200,
    },
  },
  '/v1/tenants/{id}/policies/samples': {
    post: {
      summary:
        'Record (or replace) a sample request every later commit in its domain and use case is sandboxed against',
      tags: ['policies'],
      body: 'PolicySampleInput',
      ok: 201,
      idempotent: true,
    },
    get: { summary: 'Recorded sample requests', tags: ['policies'], query: policyListQuerySchema, ok: 200 },
  },
  '/v1/tenants/{id}/policies/samples/{domainId}/{usecaseId}/{sampleName}': {
    delete: { summary: 'Delete a recorded sample', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies/{name}': {
    get: { summary: 'A policy: where it lives, latest and stable versions, rollout', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies/{name}/versions': {
    get: { summary: 'Every committed (immutable) version, oldest first', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies/{name}/versions/{version}': {
    get: { summary: 'One version with its signed document', tags: ['policies'], ok: 200 },
  },
  '/v1/tenants/{id}/policies/{name}/diff': {
    get: {
      summary: 'What changed between two versions (rules and samples by id)',
      tags: ['policies'],
      query: diffQuerySchema,
      ok: 200,
    },
  },
  '/v1/tenants/{id}/policies/{name}/rollout': {
    post: {
      summary:
        'Start a canary of a committed version for a share of traffic or of tenants (default 10, 50, 100 percent)',
      tags: ['policies'],
      body: 'PolicyRollout',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/policies/{name}/rollout/promote': {
    post: {
      summary: 'Next rollout step; past 100% the canary version becomes stable (audited)',
      tags: ['policies'],
      body: 'PolicyRolloutDecision',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/tenants/{id}/policies/{name}/rollout/rollback': {
    post: {
      summary: 'Abandon the canary: all traffic back on the stable version (audited)',
      tags: ['policies'],
      body: 'PolicyRolloutDecision',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/policy-conflicts': {
    get: {
      summary:
        'Tenants whose active policies in the same domain and use case decide a recorded request oppositely (platform roles)',
      tags: ['policies'],
      query: conflictQuerySchema,
      ok: 200,
    },
  },
};
