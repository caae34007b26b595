/**
 * The first three stages of a policy commit, which write nothing: parse (the document's
 * shape and every expression's syntax), validate (signature, the tenant's allowlist, field
 * references, semver) and sandbox (every sample decided in a bounded worker).
 */
import type { ErrorCode } from '../../contract/index.js';
import type { Kysely } from 'kysely';
import semver from 'semver';
import { toPointer, type FieldError } from '../../errors.js';
import type { Schema } from '../../schema.js';
import type { CommitOptions } from './policy-stages.js';
import { checkRules, parseRules } from './policy-engine.js';
import { parsePublicKey, type PolicyKeyStore } from './policy-keys.js';
import { recordedSamples } from './policy-samples.js';
import { runSandbox, type SandboxLimits } from './policy-sandbox.js';
import { policyInputSchema, type PolicyBody, type PolicyInput, type PolicySample } from './policy-schema.js';
import { policyDigest, verifyPolicySignature } from './policy-signature.js';
import { elapsed, stageFailure, type SampleResult, type StageReport } from './policy-stages.js';
import { writableTenant, findVersion } from './policy-store.js';

/** A document that passed parse, validate and sandbox, ready for the commit stage. */
export interface PreparedPolicy {
  tenantId: string;
  body: PolicyBody;
  document: Record<string, unknown>;
  digest: string;
  keyId: string;
  signature: string;
  /** The latest version's number when the document equals it (nothing to commit). */
  unchangedVersion: number | null;
  stages: StageReport[];
  source: string | null;
}

/** What the stages read: the policies' tables, the tenants' policy keys and the sandbox's limits. */
export interface PrepareDeps {
  db: Kysely<Schema>;
  keys: PolicyKeyStore;
  sandboxLimits: SandboxLimits;
}

/**
 * Run parse, validate and sandbox without committing (the approvals module calls this
 * when a request is filed). Throws a 400/409/422 problem naming the failing stage, with
 * every stage's report in `stages`.
 */
export async function preparePolicy(
  deps: PrepareDeps,
  tenantId: string,
  raw: unknown,
  options: Pick<CommitOptions, 'source' | 'tenantSpec'> = {},
): Promise<PreparedPolicy> {
  const stages: StageReport[] = [];
  const input = parseStage(raw, stages);
  const { originSignature, ...bodyFields } = input;
  const body: PolicyBody = { ...bodyFields, samples: bodyFields.samples };
  const document = raw as Record<string, unknown>;
  const digest = policyDigest(document);
  const unchangedVersion = await validateStage(
    deps,
    tenantId,
    body,
    document,
    digest,
    originSignature,
    options.tenantSpec,
    stages,
  );
  await sandboxStage(deps, tenantId, body, unchangedVersion, stages);
  return {
    tenantId,
    body,
    document,
    digest,
    keyId: originSignature!.keyId,
    signature: originSignature!.signature,
    unchangedVersion,
    stages,
    source: options.source ?? null,
  };
}

/** Stage 1, parse: the document's shape and every expression's syntax; nothing runs. */
function parseStage(raw: unknown, stages: StageReport[]): PolicyInput {
  const t = performance.now();
  const parsed = policyInputSchema.safeParse(raw);
  const parseErrors: FieldError[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys')
        for (const k of issue.keys)
          parseErrors.push({ path: toPointer([...issue.path.map(String), k]), message: 'unknown field' });
      else
        parseErrors.push({
          path: toPointer(issue.path.map((p) => (typeof p === 'symbol' ? String(p.description) : p))),
          message: issue.message,
        });
    }
  } else {
    parseErrors.push(...parseRules(parsed.data.rules).map(({ path, message }) => ({ path, message })));
  }
  stages.push({
    name: 'parse',
    ok: parseErrors.length === 0,
    ms: elapsed(t),
    ...(parseErrors.length > 0 ? { errors: parseErrors } : {}),
  });
  if (!parsed.success || parseErrors.length > 0)
    throw stageFailure(
      'policy_parse_failed',
      400,
      `the policy does not parse (${parseErrors.length} problem(s)); nothing was committed`,
      stages,
      parseErrors,
    );
  return parsed.data;
}

/**
 * Stage 2, validate: signature, the tenant's allowlist, field references, semver. Returns
 * the latest version's number when the document equals it (nothing to commit), else null.
 */
async function validateStage(
  deps: PrepareDeps,
  tenantId: string,
  body: PolicyBody,
  document: Record<string, unknown>,
  digest: string,
  originSignature: PolicyInput['originSignature'],
  tenantSpec: Record<string, unknown> | undefined,
  stages: StageReport[],
): Promise<number | null> {
  const t = performance.now();
  const errors: Array<FieldError & { code: ErrorCode }> = [];
  const tenant = await writableTenant(deps.db, tenantId, tenantSpec);
  if (!originSignature) {
    errors.push({
      path: '/originSignature',
      message: "is required: sign the policy with one of the tenant's policy keys",
      code: 'policy_unsigned',
    });
  } else {
    const pem =
      (await deps.keys.publicKey(tenantId, originSignature.keyId)) ?? manifestKey(tenant.spec, originSignature.keyId);
    if (!pem)
      errors.push({
        path: '/originSignature/keyId',
        message: `tenant ${tenantId} has no policy key ${originSignature.keyId}`,
        code: 'policy_signature_invalid',
      });
    else if (!verifyPolicySignature(document, pem, originSignature.signature))
      errors.push({
        path: '/originSignature/signature',
        message: `does not verify with key ${originSignature.keyId} over the canonical document`,
        code: 'policy_signature_invalid',
      });
  }
  const allow = allowlistOf(tenant.spec);
  if (allow.domains && !allow.domains.includes(body.domainId))
    errors.push({
      path: '/domainId',
      message: `domain ${body.domainId} is not in the tenant's allowedDomains (${allow.domains.join(', ') || 'none'})`,
      code: 'policy_domain_not_allowed',
    });
  if (allow.kinds) {
    body.rules.forEach((r, i) => {
      if (!allow.kinds!.includes(r.kind))
        errors.push({
          path: `/rules/${i}/kind`,
          message: `rule kind ${r.kind} is not in the tenant's allowedRuleKinds (${allow.kinds!.join(', ') || 'none'})`,
          code: 'policy_rule_kind_not_allowed',
        });
    });
  }
  for (const p of checkRules(body.fields, body.rules)) errors.push({ path: p.path, message: p.message, code: p.code });
  const head = await deps.db
    .selectFrom('policy_heads')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('name', '=', body.name)
    .executeTakeFirst();
  let unchangedVersion: number | null = null;
  if (head) {
    if (head.domain_id !== body.domainId || head.usecase_id !== body.usecaseId) {
      errors.push({
        path: head.domain_id !== body.domainId ? '/domainId' : '/usecaseId',
        message: `policy ${body.name} lives in ${head.domain_id}/${head.usecase_id}; a policy cannot move (use a new name)`,
        code: 'policy_namespace_changed',
      });
    }
    const latest = await findVersion(deps.db, tenantId, body.name, head.latest_version);
    if (latest.digest === digest) unchangedVersion = latest.version;
    else if (!semver.gt(body.semver, latest.semver))
      errors.push({
        path: '/semver',
        message: `must be greater than the latest version's ${latest.semver} (version ${latest.version})`,
        code: 'policy_semver_not_increasing',
      });
  }
  stages.push({
    name: 'validate',
    ok: errors.length === 0,
    ms: elapsed(t),
    ...(errors.length > 0 ? { errors: errors.map(({ path, message }) => ({ path, message })) } : {}),
  });
  if (errors.length > 0) {
    const code = errors[0]!.code;
    throw stageFailure(
      code,
      code === 'policy_semver_not_increasing' ? 409 : 422,
      `the policy is not valid: ${errors[0]!.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}; nothing was committed`,
      stages,
      errors.map(({ path, message }) => ({ path, message })),
    );
  }
  return unchangedVersion;
}

/** Stage 3, sandbox: every sample (the document's and the recorded ones) in a bounded worker. */
async function sandboxStage(
  deps: PrepareDeps,
  tenantId: string,
  body: PolicyBody,
  unchangedVersion: number | null,
  stages: StageReport[],
): Promise<void> {
  const t = performance.now();
  if (unchangedVersion !== null) {
    stages.push({ name: 'sandbox', ok: true, ms: elapsed(t), skipped: true });
  } else {
    const recorded = await recordedSamples(deps.db, tenantId, body.domainId, body.usecaseId);
    const samples: Array<PolicySample & { from: 'policy' | 'recorded' }> = [
      ...body.samples.map((s) => ({ ...s, from: 'policy' as const })),
      ...recorded.map((r) => ({
        name: r.name,
        request: r.request,
        ...(r.expect ? { expect: r.expect } : {}),
        from: 'recorded' as const,
      })),
    ];
    const outcome = await runSandbox(
      [body],
      samples.map((s) => s.request),
      deps.sandboxLimits,
    );
    if (!outcome.ok) {
      const code =
        outcome.reason === 'timeout'
          ? 'policy_sandbox_timeout'
          : outcome.reason === 'memory'
            ? 'policy_sandbox_memory_exceeded'
            : 'policy_sandbox_failed';
      const errs = [{ path: '/rules', message: outcome.message }];
      stages.push({ name: 'sandbox', ok: false, ms: outcome.ms, errors: errs });
      throw stageFailure(
        code,
        422,
        `the sandbox stopped the policy: ${outcome.message}; nothing was committed`,
        stages,
        errs,
      );
    }
    const results: SampleResult[] = samples.map((s, i) => {
      const d = outcome.results[i]![0]!;
      return {
        name: s.name,
        from: s.from,
        decision: d.decision,
        rule: d.rule,
        expect: s.expect ?? null,
        ok: s.expect === undefined || s.expect === d.decision,
        errors: d.errors,
      };
    });
    const mismatches: FieldError[] = results.flatMap((r) => {
      if (r.ok) return [];
      const index = r.from === 'policy' ? body.samples.findIndex((s) => s.name === r.name) : -1;
      return [
        {
          path: r.from === 'policy' ? `/samples/${index}/expect` : `/recordedSamples/${r.name}`,
          message: `sample ${r.name} expects ${r.expect} but the policy decides ${r.decision} (rule ${r.rule ?? 'default'})`,
        },
      ];
    });
    stages.push({
      name: 'sandbox',
      ok: mismatches.length === 0,
      ms: elapsed(t),
      samples: results,
      ...(mismatches.length > 0 ? { errors: mismatches } : {}),
    });
    if (mismatches.length > 0)
      throw stageFailure(
        'policy_sample_mismatch',
        422,
        `${mismatches.length} sample(s) are not decided as they expect; nothing was committed`,
        stages,
        mismatches,
      );
  }
}

/** A signing key declared in the tenant's manifest (`spec.governance.policy.signingKeys`), as PEM. */
function manifestKey(spec: Record<string, unknown>, id: string): string | undefined {
  const keys =
    (
      ((spec.governance as Record<string, unknown> | undefined)?.policy ?? {}) as {
        signingKeys?: Array<{ id: string; publicKeyPem?: string; jwk?: Record<string, unknown> }>;
      }
    ).signingKeys ?? [];
  const key = keys.find((k) => k.id === id);
  if (!key) return undefined;
  try {
    return parsePublicKey(key).export({ format: 'pem', type: 'spki' }).toString();
  } catch {
    return undefined;
  }
}

/** The tenant's allowlist (`spec.governance.policy`); undefined lists allow everything. */
export function allowlistOf(spec: Record<string, unknown>): {
  kinds: string[] | undefined;
  domains: string[] | undefined;
} {
  const policy = ((spec.governance as Record<string, unknown> | undefined)?.policy ?? {}) as {
    allowedRuleKinds?: string[];
    allowedDomains?: string[];
  };
  return { kinds: policy.allowedRuleKinds, domains: policy.allowedDomains };
}
