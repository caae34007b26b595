/**
 * The policy document: what a tenant signs and commits. Rules are CEL expressions over
 * `request`, whose fields the policy declares in `fields`; the schema here checks the
 * document's shape (the parse stage), the expressions themselves are type-checked at
 * validate against the declared fields.
 */
import { z } from 'zod';

/** Policy names: lowercase, URL-safe; a few are reserved for sub-resources of `/policies`. */
export const POLICY_NAME_PATTERN = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
/** Names taken by sub-resources of `/policies`, so no policy can shadow them. */
export const RESERVED_POLICY_NAMES = ['evaluate', 'samples', 'conflicts', 'keys'] as const;
/** Domain and use-case ids: the namespace a policy lives in. */
export const NAMESPACE_ID_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
/** Rule kinds: a label the tenant's allowlist can restrict (`access`, `data-export`...). */
export const RULE_KIND_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
const FIELD_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;
const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** Field types a policy may declare for `request`. */
export const FIELD_TYPES = ['string', 'number', 'boolean', 'string[]', 'number[]'] as const;
/** One declared field's type. */
export type FieldType = (typeof FIELD_TYPES)[number];
/** Declared request fields: a type, or a nested object of fields. */
export type FieldSchema = { [name: string]: FieldType | FieldSchema };

/** Size limits of one policy document. */
export const MAX_RULES = 200;
export const MAX_SAMPLES = 200;
export const MAX_EXPRESSION_LENGTH = 4096;

/** A policy's name (unique per tenant). */
export const policyNameSchema = z
  .string()
  .regex(
    POLICY_NAME_PATTERN,
    'must be 1-64 lowercase letters, digits, ".", "_" or "-", starting and ending alphanumeric',
  )
  .refine(
    (n) => !(RESERVED_POLICY_NAMES as readonly string[]).includes(n),
    `must not be one of ${RESERVED_POLICY_NAMES.join(', ')}`,
  );
/** A domain or use-case id. */
export const namespaceIdSchema = z
  .string()
  .regex(NAMESPACE_ID_PATTERN, 'must be a lowercase id: a letter, then letters, digits or "-" (up to 63)');
/** A semantic version (semver.org 2.0.0). */
export const semverSchema = z
  .string()
  .max(128, 'must be at most 128 characters')
  .regex(SEMVER_PATTERN, 'must be a semantic version such as 1.4.0');

const fieldTypeSchema = z.enum(FIELD_TYPES, {
  error: `must be one of ${FIELD_TYPES.join(', ')} or an object of fields`,
});
const fieldSchemaSchema: z.ZodType<FieldSchema> = z.lazy(() =>
  z
    .record(
      z.string().regex(FIELD_NAME_PATTERN, 'must be a field name: a letter or "_", then letters, digits or "_"'),
      z.union([fieldTypeSchema, fieldSchemaSchema], {
        error: `must be one of ${FIELD_TYPES.join(', ')} or an object of fields`,
      }),
    )
    .refine((f) => Object.keys(f).length <= 100, 'at most 100 fields per object'),
);

/** One rule: a CEL expression over `request`, its effect when it matches, and its kind. */
export const ruleSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/, 'must be a rule id: lowercase letters, digits, ".", "_" or "-"'),
  kind: z.string().regex(RULE_KIND_PATTERN, 'must be a rule kind: a letter, then lowercase letters, digits or "-"'),
  effect: z.enum(['allow', 'deny'], { error: 'must be allow or deny' }),
  when: z
    .string()
    .min(1, 'must not be empty')
    .max(MAX_EXPRESSION_LENGTH, `must be at most ${MAX_EXPRESSION_LENGTH} characters`),
  description: z.string().max(500).optional(),
});

/** A request the sandbox evaluates; `expect` makes it a test the policy must pass. */
export const sampleSchema = z.strictObject({
  name: z
    .string()
    .regex(
      /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/,
      'must be a sample name: lowercase letters, digits, ".", "_" or "-"',
    ),
  request: z.record(z.string(), z.unknown()),
  expect: z.enum(['allow', 'deny'], { error: 'must be allow or deny' }).optional(),
});

/** The author's Ed25519 signature over the canonical document (see `policy-signature.ts`). */
export const originSignatureSchema = z.strictObject({
  keyId: z.string().min(1).max(128),
  alg: z.literal('EdDSA').default('EdDSA'),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'must be a base64url Ed25519 signature (86 characters)'),
});

/** The policy body fields (everything the signature covers). */
const bodyShape = {
  name: policyNameSchema,
  domainId: namespaceIdSchema,
  usecaseId: namespaceIdSchema,
  semver: semverSchema,
  description: z.string().max(1000).optional(),
  fields: fieldSchemaSchema,
  defaultEffect: z.enum(['allow', 'deny'], { error: 'must be allow or deny' }).default('deny'),
  rules: z.array(ruleSchema).min(1, 'needs at least one rule').max(MAX_RULES, `at most ${MAX_RULES} rules`),
  samples: z.array(sampleSchema).max(MAX_SAMPLES, `at most ${MAX_SAMPLES} samples`).default([]),
};

/** A policy as posted to `POST /v1/tenants/{id}/policies`: the body plus its signature. */
export const policyInputSchema = z
  .strictObject({ ...bodyShape, originSignature: originSignatureSchema.optional() })
  .superRefine((p, ctx) => {
    const ids = new Set<string>();
    p.rules.forEach((r, i) => {
      if (ids.has(r.id))
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id ${r.id}` });
      ids.add(r.id);
    });
    const names = new Set<string>();
    p.samples.forEach((s, i) => {
      if (names.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['samples', i, 'name'], message: `duplicate sample name ${s.name}` });
      names.add(s.name);
    });
  })
  .meta({
    id: 'PolicyInput',
    description:
      "A policy: CEL rules over declared request fields, signed with one of the tenant's policy keys (Ed25519 over RFC 8785 canonical JSON of the document without originSignature).",
  });

/** The `spec` of a `TenantPolicy` document in a GitOps folder (the name comes from metadata). */
export const policySpecSchema = z.strictObject({
  domainId: namespaceIdSchema,
  usecaseId: namespaceIdSchema,
  semver: semverSchema,
  description: z.string().max(1000).optional(),
  fields: fieldSchemaSchema,
  defaultEffect: z.enum(['allow', 'deny']).optional(),
  rules: z.array(ruleSchema).min(1).max(MAX_RULES),
  samples: z.array(sampleSchema).max(MAX_SAMPLES).optional(),
  originSignature: originSignatureSchema.optional(),
});

/** Inferred shapes of the schemas above. */
export type PolicyInput = z.infer<typeof policyInputSchema>;
export type PolicyRule = z.infer<typeof ruleSchema>;
export type PolicySample = z.infer<typeof sampleSchema>;
export type OriginSignature = z.infer<typeof originSignatureSchema>;

/** The parsed body of a policy (what is stored and what the engine compiles). */
export interface PolicyBody {
  name: string;
  domainId: string;
  usecaseId: string;
  semver: string;
  description?: string | undefined;
  fields: FieldSchema;
  defaultEffect: 'allow' | 'deny';
  rules: PolicyRule[];
  samples: PolicySample[];
}
