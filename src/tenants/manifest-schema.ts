/**
 * The one schema for tenant manifests and the documents of a GitOps folder.
 * It validates every input (HTTP, CLI, bundles) and generates the OpenAPI components,
 * so the API description cannot drift from what is accepted.
 */
import { z } from 'zod';
import type { ErrorCode } from '../contract/index.js';
import { validationError, toPointer, type FieldError } from '../errors.js';
import { APPROVAL_KINDS, APPROVER_ROLES } from '../governance/approvals/approval-model.js';
import { routerDocumentSpecSchema } from '../ai/router-spec.js';
import { sovereigntySpecSchema } from '../governance/sovereignty/sovereignty.js';
import { parsePublicKey, POLICY_KEY_ID_PATTERN } from '../governance/policies/policy-keys.js';
import { namespaceIdSchema, policySpecSchema, RULE_KIND_PATTERN } from '../governance/policies/policy-schema.js';
import { retrievalPolicySpecSchema } from '../retrieval/policy-schema.js';
import { sloSpecSchema } from '../slo/slo-schema.js';

/** Tenant ids are DNS labels: immutable, and safe to derive schema, bucket and subject names from. */
export const TENANT_ID_PATTERN = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const tenantIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(
    TENANT_ID_PATTERN,
    'must be a DNS label: lowercase letters, digits and "-", starting with a letter and ending with a letter or digit',
  );

export const PLANS = ['free', 'starter', 'pro', 'enterprise'] as const;
export const PROFILES = ['mt-standard', 'st-dedicated', 'st-byoc'] as const;
export const COMPLIANCE_REGIMES = ['HIPAA', 'SOX', 'GDPR', 'PCI-DSS', 'SOC2', 'ISO27001', 'FedRAMP', 'CCPA'] as const;

const labelKey = z
  .string()
  .regex(
    /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/,
    'must be a label key: [prefix/]name of letters, digits, ".", "_", "-" (name up to 63)',
  );
const labelValue = z
  .string()
  .regex(
    /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/,
    'must be a label value: up to 63 letters, digits, ".", "_", "-", starting and ending alphanumeric',
  );
const flagName = z
  .string()
  .regex(
    /^[a-zA-Z][a-zA-Z0-9._-]{0,127}$/,
    'must be a flag name: a letter, then letters, digits, ".", "_", "-" (up to 128)',
  );
const featureScalar = z.union(
  [z.boolean(), z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters')],
  { error: 'must be true, false or a string' },
);
/** A percentage rollout: a stable hash of the tenant id puts each tenant inside or outside. */
export const rolloutSchema = z
  .strictObject({
    rollout: z
      .number({ error: 'must be a percentage 0..100' })
      .min(0, 'must be a percentage 0..100')
      .max(100, 'must be a percentage 0..100')
      .describe('percent of tenants that get `value`'),
    value: featureScalar.optional().describe('the value inside the rollout (default true)'),
    otherwise: featureScalar
      .optional()
      .describe("the value outside it (default: the plan's value, else false for a boolean flag)"),
    seed: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1..64 letters, digits, ".", "_", "-"')
      .optional()
      .describe('hash seed (default the flag name); tenants keep their place while the percentage grows'),
  })
  .superRefine((r, ctx) => {
    if (r.otherwise !== undefined && typeof r.otherwise !== typeof (r.value ?? true))
      ctx.addIssue({ code: 'custom', path: ['otherwise'], message: 'must have the same type as value' });
  })
  .meta({ id: 'FeatureRollout' });
const featureValue = z.union(
  [z.boolean(), z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters'), rolloutSchema],
  {
    error: 'must be true, false, a string, or a rollout such as { rollout: 25 }',
  },
);
const count = z.number().int('must be an integer').min(0, 'must be >= 0').max(Number.MAX_SAFE_INTEGER);

export const labelsSchema = z
  .record(labelKey, labelValue)
  .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels');
export const featuresSchema = z
  .record(flagName, featureValue)
  .refine((f) => Object.keys(f).length <= 512, 'at most 512 flags');

export const quotasSchema = z
  .strictObject({
    maxUsers: count.optional(),
    maxProjects: count.optional(),
    maxRequestsPerHour: count.optional(),
    maxConcurrentRequests: count.optional(),
    storageLimitBytes: count.optional(),
    maxCostPerMonthUsd: z.number().min(0, 'must be >= 0').max(1e12).optional(),
    computeLimitMillicores: count.optional(),
    networkBandwidthMbps: count.optional(),
  })
  .meta({ id: 'Quotas', description: 'Limits for the tenant; any omitted field takes the plan default.' });

export const tenantSpecSchema = z
  .strictObject({
    name: z.string().trim().min(1, 'must not be empty').max(200),
    plan: z.enum(PLANS),
    profile: z.enum(PROFILES).default('mt-standard'),
    region: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a region name such as eu-west-1')
      .default('default'),
    environments: z
      .array(tenantIdSchema)
      .min(1, 'needs at least one environment')
      .max(16)
      .refine((e) => new Set(e).size === e.length, 'environments must be unique')
      .default(['prod']),
    quotas: quotasSchema.optional(),
    features: featuresSchema.optional(),
    config: z
      .strictObject({
        retentionDays: z.number().int().min(0).max(3650).optional(),
        encryption: z.enum(['standard', 'enhanced']).optional(),
        keyRotationDays: z
          .number()
          .int('must be an integer')
          .min(1, 'must be >= 1')
          .max(3650, 'must be <= 3650')
          .optional(),
      })
      .optional(),
    contact: z
      .strictObject({
        email: z.email('must be an email address'),
        industry: z.string().min(1).max(100).optional(),
        compliance: z
          .array(z.enum(COMPLIANCE_REGIMES))
          .refine((c) => new Set(c).size === c.length, 'compliance regimes must be unique')
          .optional(),
      })
      .optional(),
    billing: z
      .strictObject({
        currency: z
          .string()
          .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD')
          .optional(),
        billingEmail: z.email('must be an email address').optional(),
        paymentTermsDays: z.number().int().min(0).max(120).optional(),
        purchaseOrder: z.string().min(1).max(100).optional(),
        invoiceDay: z.number().int().min(1).max(28).optional(),
        committedSpendUsd: z.number().min(0).optional(),
      })
      .optional(),
    governance: z
      .strictObject({
        approvals: z
          .strictObject({
            require: z
              .array(z.enum(APPROVAL_KINDS, { error: `must be one of ${APPROVAL_KINDS.join(', ')}` }))
              .refine((k) => new Set(k).size === k.length, 'kinds must be unique')
              .describe('changes that wait for an approver instead of applying'),
            approverRoles: z
              .array(z.enum(APPROVER_ROLES, { error: `must be one of ${APPROVER_ROLES.join(', ')}` }))
              .min(1, 'needs at least one role')
              .refine((k) => new Set(k).size === k.length, 'roles must be unique')
              .optional()
              .describe('roles that may decide (default: all of platform-admin, owner, admin)'),
            notify: z
              .strictObject({
                email: z.array(z.email('must be an email address')).min(1).max(20, 'at most 20 addresses').optional(),
              })
              .optional(),
          })
          .optional(),
        policy: z
          .strictObject({
            allowedRuleKinds: z
              .array(
                z
                  .string()
                  .regex(RULE_KIND_PATTERN, 'must be a rule kind: a letter, then lowercase letters, digits or "-"'),
              )
              .max(100)
              .optional()
              .describe("rule kinds the tenant's policies may use; unset: any"),
            allowedDomains: z
              .array(namespaceIdSchema)
              .max(100)
              .optional()
              .describe("domains the tenant's policies may live in; unset: any"),
            signingKeys: z
              .array(
                z
                  .strictObject({
                    id: z.string().regex(POLICY_KEY_ID_PATTERN, 'must be 1-128 letters, digits, ".", "_" or "-"'),
                    publicKeyPem: z.string().max(4096).optional(),
                    jwk: z.record(z.string(), z.unknown()).optional(),
                  })
                  .superRefine((k, ctx) => {
                    if ((k.jwk === undefined) === (k.publicKeyPem === undefined))
                      return void ctx.addIssue({
                        code: 'custom',
                        path: ['publicKeyPem'],
                        message: 'give exactly one of publicKeyPem and jwk',
                      });
                    try {
                      parsePublicKey(k);
                    } catch (error) {
                      ctx.addIssue({
                        code: 'custom',
                        path: [k.jwk ? 'jwk' : 'publicKeyPem'],
                        message:
                          (error as { errors?: Array<{ message: string }> }).errors?.[0]?.message ??
                          'not an Ed25519 public key',
                      });
                    }
                  }),
              )
              .max(20)
              .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, 'key ids must be unique')
              .optional()
              .describe(
                "Ed25519 public keys that may sign the tenant's policies, besides those registered through /v1/tenants/{id}/policy-keys (lets a GitOps folder carry its trust anchor)",
              ),
          })
          .optional(),
      })
      .optional()
      .describe('Governance guardrails (a platform decision: only platform roles change them).'),
    byoc: z
      .strictObject({
        databaseSecret: z
          .string()
          .regex(/^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/, 'must be a secret name')
          .describe("name of the tenant secret holding the postgres:// URL of the tenant's own database"),
      })
      .optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.profile === 'st-byoc' && !spec.byoc) {
      ctx.addIssue({
        code: 'custom',
        path: ['byoc'],
        message:
          "profile st-byoc needs byoc.databaseSecret: the name of a tenant secret holding the postgres:// URL of the tenant's own database",
      });
    }
    if (spec.profile !== 'st-byoc' && spec.byoc)
      ctx.addIssue({ code: 'custom', path: ['byoc'], message: 'applies to profile st-byoc only' });
  })
  .meta({ id: 'TenantSpec', description: 'Desired state of a tenant.' });

export const tenantManifestSchema = z
  .strictObject({
    apiVersion: z.literal('tenancy/v1'),
    kind: z.literal('Tenant'),
    metadata: z.strictObject({ id: tenantIdSchema, labels: labelsSchema.optional() }),
    spec: tenantSpecSchema,
  })
  .meta({ id: 'TenantManifest', description: 'A tenant manifest (YAML or JSON).' });

const documentMetadata = z.strictObject({
  tenant: tenantIdSchema,
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, 'must be a lowercase name of letters, digits, "." and "-"')
    .optional(),
});

export const featuresDocumentSchema = z.strictObject({
  apiVersion: z.literal('tenancy/v1'),
  kind: z.literal('TenantFeatures'),
  metadata: documentMetadata,
  spec: z.strictObject({
    flags: featuresSchema,
    experimental: z
      .array(flagName)
      .max(512, 'at most 512 flags')
      .optional()
      .describe('flags switched off while a latency SLO of the tenant is violated, and back on when it recovers'),
  }),
});
export const routerDocumentSchema = z.strictObject({
  apiVersion: z.literal('tenancy/v1'),
  kind: z.literal('TenantRouter'),
  metadata: documentMetadata,
  spec: routerDocumentSpecSchema,
});
export const sovereigntyDocumentSchema = z.strictObject({
  apiVersion: z.literal('tenancy/v1'),
  kind: z.literal('DataSovereignty'),
  metadata: documentMetadata,
  spec: sovereigntySpecSchema,
});
/** A policy in a GitOps folder (`tenants/<id>/policies/<name>.yaml`); committed through the same four stages as the API. */
export const policyDocumentSchema = z.strictObject({
  apiVersion: z.literal('tenancy/v1'),
  kind: z.literal('TenantPolicy'),
  metadata: documentMetadata.required({ name: true }),
  spec: policySpecSchema,
});

/** The tenant's trust and poisoning guard for retrieval (`tenants/<id>/policies/retrieval.yaml`). */
export const retrievalPolicyDocumentSchema = z.strictObject({
  apiVersion: z.literal('tenancy/v1'),
  kind: z.literal('RetrievalPolicy'),
  metadata: documentMetadata,
  spec: retrievalPolicySpecSchema,
});

/** One of the tenant's SLOs (`tenants/<id>/slos.yaml`, several documents in one file); OpenSLO v1 is read into it. */
export const sloDocumentSchema = z.strictObject({
  apiVersion: z.literal('tenancy/v1'),
  kind: z.literal('SLO'),
  metadata: documentMetadata.required({ name: true }),
  spec: sloSpecSchema,
});

/** Kinds a bundle may carry besides `Tenant`, and where each sits in a GitOps folder. */
export const DOCUMENT_KINDS = {
  TenantFeatures: { schema: featuresDocumentSchema, file: 'features.yaml' },
  TenantRouter: { schema: routerDocumentSchema, file: 'router.yaml' },
  DataSovereignty: { schema: sovereigntyDocumentSchema, file: 'data-sovereignty.yaml' },
  TenantPolicy: { schema: policyDocumentSchema, file: 'policies/<name>.yaml' },
  RetrievalPolicy: { schema: retrievalPolicyDocumentSchema, file: 'policies/retrieval.yaml' },
  SLO: { schema: sloDocumentSchema, file: 'slos.yaml' },
} as const;

export type DocumentKind = keyof typeof DOCUMENT_KINDS;
export type TenantManifest = z.infer<typeof tenantManifestSchema>;
export type TenantManifestInput = z.input<typeof tenantManifestSchema>;
export type TenantSpec = z.infer<typeof tenantSpecSchema>;
export type Quotas = z.infer<typeof quotasSchema>;
export type FeatureValue = z.infer<typeof featureValue>;
export type FeatureRollout = z.infer<typeof rolloutSchema>;
export type Plan = (typeof PLANS)[number];
export type Profile = (typeof PROFILES)[number];

/** A validated non-Tenant document of a tenant's folder. */
export interface TenantDocument {
  kind: DocumentKind;
  tenant: string;
  name: string;
  spec: Record<string, unknown>;
  source?: string;
}

/** Turn zod issues into field errors with JSON pointers, one per unknown key. */
export function zodFieldErrors(error: z.ZodError, prefix: ReadonlyArray<string | number> = []): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    const base = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p.description) : p))];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: toPointer([...base, key]), message: 'unknown field' });
    } else if (issue.code === 'invalid_union' && 'errors' in issue && Array.isArray(issue.errors)) {
      out.push({ path: toPointer(base), message: issue.message });
    } else {
      out.push({ path: toPointer(base), message: issue.message });
    }
  }
  // One entry per path: a value can fail several checks (length and pattern, say).
  const merged = new Map<string, FieldError>();
  for (const e of out) {
    const seen = merged.get(e.path);
    if (seen) {
      if (!seen.message.split('; ').includes(e.message)) seen.message += `; ${e.message}`;
    } else merged.set(e.path, { ...e });
  }
  return [...merged.values()];
}

/** Parse with a schema or throw a 400 listing every field problem under `prefix`. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  prefix: ReadonlyArray<string | number> = [],
  code: ErrorCode = 'validation_failed',
): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(`${what} is invalid`, zodFieldErrors(result.error, prefix), code);
  return result.data;
}
