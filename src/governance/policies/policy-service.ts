/**
 * The policy service: the four-stage commit (parse, validate, sandbox, commit; each
 * reported, and a failure at any stage commits nothing), immutable versions with their
 * history, recorded sample requests, canary rollouts (10% -> 50% -> 100% of traffic or
 * of tenants, promoted or rolled back) and the evaluation fast path (each version
 * compiled once and cached).
 *
 * Every write is audited and evented in its transaction; `policy.committed` carries
 * `{ name, domainId, usecaseId, semver, version }`.
 */
import { createHash, randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import semver from 'semver';
import { conflict, notFound, TenancyError, toPointer, type FieldError } from '../../errors.js';
import { json, type Schema } from '../../infra/sql/index.js';
import { approvalStale, type Approval } from '../approval-gate.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import { checkRules, compileRules, parseRules, type CompiledPolicy, type Decision } from './policy-engine.js';
import { parsePublicKey, type PolicyKeyStore } from './policy-keys.js';
import { runSandbox, DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from './policy-sandbox.js';
import { policyInputSchema, type PolicyBody, type PolicySample } from './policy-schema.js';
import { policyDigest, verifyPolicySignature } from './policy-signature.js';
import { tenantFacts } from '../../tenants/tenant-rows.js';

/** The stages of a commit, in order. */
export const STAGES = ['parse', 'validate', 'sandbox', 'commit'] as const;
/** A stage's name. */
export type StageName = (typeof STAGES)[number];

/** One sample's outcome in the sandbox. */
export interface SampleResult {
  name: string;
  /** `policy`: carried by the document; `recorded`: stored for the policy's domain and use case. */
  from: 'policy' | 'recorded';
  decision: 'allow' | 'deny';
  rule: string | null;
  expect: 'allow' | 'deny' | null;
  ok: boolean;
  errors: Decision['errors'];
}

/** What one stage did. */
export interface StageReport {
  name: StageName;
  ok: boolean;
  ms: number;
  /** True when the stage had nothing to do (an unchanged document is not sandboxed again). */
  skipped?: boolean;
  errors?: FieldError[];
  samples?: SampleResult[];
}

/** A committed version. */
export interface PolicyVersionInfo {
  tenantId: string;
  name: string;
  domainId: string;
  usecaseId: string;
  version: number;
  semver: string;
  digest: string;
  keyId: string;
  approvalStatus: ApprovalStatus;
  approvalRef: string | null;
  source: string | null;
  committedAt: string;
  committedBy: string;
  /** The policy document as signed, with its `originSignature`. */
  document: Record<string, unknown>;
}

/** Whether a version needed approval and had it. */
export type ApprovalStatus = 'not_required' | 'approved';

/** A canary rollout in progress. */
export interface RolloutInfo {
  id: string;
  version: number;
  by: 'traffic' | 'tenant';
  steps: number[];
  step: number;
  percent: number;
  startedAt: string;
}

/** A policy: where it lives, its versions and what serves now. */
export interface PolicyInfo {
  tenantId: string;
  name: string;
  domainId: string;
  usecaseId: string;
  latestVersion: number;
  stableVersion: number;
  stableSemver: string;
  rollout: RolloutInfo | null;
  updatedAt: string;
}

/** The outcome of a commit. */
export interface CommitResult {
  policy: PolicyVersionInfo;
  /** False when the document equals the latest version (nothing new was committed). */
  committed: boolean;
  active: boolean;
  stages: StageReport[];
}

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

/**
 * What the approvals module answers for a commit that did not come through it. Called
 * inside the commit's transaction: read through `trx`, never the plain connection.
 */
export type ApprovalGate = (
  request: { tenantId: string; name: string; domainId: string; usecaseId: string; semver: string; digest: string },
  trx: Transaction<Schema>,
) => Promise<'not_required' | 'required'>;

/** A commit the tenant's governance puts behind an approval, as handed to {@link PolicyApprovalRequester}. */
export interface PolicyChangeRequest {
  tenantId: string;
  name: string;
  domainId: string;
  usecaseId: string;
  semver: string;
  digest: string;
  /** The signed document, exactly as it will be committed. */
  document: Record<string, unknown>;
  activate: boolean;
  source: string | null;
  /** The policy's latest version when the request was filed (0: no version yet); anything else later makes the approval stale. */
  latestVersion: number;
  /** The requester's role, when known. */
  role?: string | undefined;
}

/** Files a pending approval for a gated commit inside the commit's transaction (set by the approvals wiring). */
export type PolicyApprovalRequester = (
  trx: Transaction<Schema>,
  actor: Actor,
  change: PolicyChangeRequest,
) => Promise<Approval>;

/** What {@link PolicyService.submit} did: committed (or found unchanged), or filed a pending approval. */
export type PolicySubmission =
  | { outcome: 'committed'; result: CommitResult }
  | { outcome: 'pending'; approval: Approval; stages: StageReport[] };

/** Options of a commit. */
export interface CommitOptions {
  source?: string | null | undefined;
  /** Make the new version stable at once (default). False keeps the current stable version (for a canary rollout next). */
  activate?: boolean | undefined;
  /**
   * Set by the approvals module when it commits an approved request. With `basedOnVersion`
   * (the latest version when the request was filed) a policy that moved on since, or a
   * rollout that started since, refuses the commit as `approval_stale`.
   */
  approval?: { ref: string; basedOnVersion?: number | undefined } | undefined;
  /** The tenant's spec when it is not stored yet (a bundle that creates the tenant). */
  tenantSpec?: Record<string, unknown> | undefined;
}

/** An evaluation request. */
export interface EvaluateInput {
  domainId: string;
  usecaseId: string;
  request: Record<string, unknown>;
  /** Only this policy (default: every policy of the domain and use case; a deny from any decides). */
  policy?: string | undefined;
  /** Bucketing key for traffic canaries (a user or session id); default: the canonical request. */
  key?: string | undefined;
}

/** One policy's answer. */
export interface PolicyDecision {
  policy: string;
  version: number;
  semver: string;
  canary: boolean;
  decision: 'allow' | 'deny';
  rule: string | null;
  errors?: Decision['errors'];
}

/** The answer to an evaluation: the deciding policy's decision and rule, and every policy's. */
export interface EvaluateResult {
  decision: 'allow' | 'deny';
  rule: string | null;
  policy: string;
  version: number;
  semver: string;
  canary: boolean;
  policies: PolicyDecision[];
}

/** Default canary steps (percent). */
export const DEFAULT_ROLLOUT_STEPS = [10, 50, 100];

type HeadRow = Selectable<Schema['policy_heads']>;
type VersionRow = Selectable<Schema['policy_versions']>;
type Db = Kysely<Schema> | Transaction<Schema>;

/** A commit stage failed: the problem carries every stage's report. */
function stageFailure(
  code: string,
  status: number,
  detail: string,
  stages: StageReport[],
  errors?: FieldError[],
): TenancyError {
  const failed = stages.find((s) => !s.ok)?.name;
  return new TenancyError(code, status, detail, {
    ...(errors && errors.length > 0 ? { errors } : {}),
    extensions: { stage: failed, stages },
  });
}

const iso = (d: Date | string): string => new Date(d).toISOString();

/** Percent bucket (0 <= b < 100) of `key` in a rollout: stable, and uniform. */
export function rolloutBucket(rolloutId: string, key: string): number {
  const h = createHash('sha256').update(rolloutId).update('\0').update(key).digest();
  return (h.readUInt32BE(0) / 0x1_0000_0000) * 100;
}

/** The policy service. */
export class PolicyService {
  /** Set by the approvals module: decides whether a commit needs an approved request first. */
  approvalGate: ApprovalGate | undefined;
  /** Set by the approvals module: files the pending approval when {@link submit} meets a gated commit. */
  approvalRequester: PolicyApprovalRequester | undefined;
  readonly #heads = new Map<string, { until: number; heads: HeadRow[] }>();
  readonly #compiled = new Map<string, { semver: string; compiled: CompiledPolicy }>();

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly keys: PolicyKeyStore,
    private readonly options: { sandbox?: SandboxLimits; headCacheMs?: number } = {},
  ) {}

  get sandboxLimits(): SandboxLimits {
    return this.options.sandbox ?? DEFAULT_SANDBOX_LIMITS;
  }

  // ---------------------------------------------------------------- commit

  /**
   * Run parse, validate and sandbox without committing (the approvals module calls this
   * when a request is filed). Throws a 400/409/422 problem naming the failing stage, with
   * every stage's report in `stages`.
   */
  async prepare(
    tenantId: string,
    raw: unknown,
    options: Pick<CommitOptions, 'source' | 'tenantSpec'> = {},
  ): Promise<PreparedPolicy> {
    const stages: StageReport[] = [];
    // 1. parse: the document's shape and every expression's syntax; nothing runs.
    let t = performance.now();
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
    const input = parsed.data;
    const { originSignature, ...bodyFields } = input;
    const body: PolicyBody = { ...bodyFields, samples: bodyFields.samples };
    const document = raw as Record<string, unknown>;
    const digest = policyDigest(document);

    // 2. validate: signature, the tenant's allowlist, field references, semver.
    t = performance.now();
    const errors: Array<FieldError & { code: string }> = [];
    const tenant = await this.#tenant(tenantId, options.tenantSpec);
    if (!originSignature) {
      errors.push({
        path: '/originSignature',
        message: "is required: sign the policy with one of the tenant's policy keys",
        code: 'policy_unsigned',
      });
    } else {
      const pem =
        (await this.keys.publicKey(tenantId, originSignature.keyId)) ?? manifestKey(tenant.spec, originSignature.keyId);
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
    for (const p of checkRules(body.fields, body.rules))
      errors.push({ path: p.path, message: p.message, code: p.code });
    const head = await this.db
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
      const latest = await this.#version(this.db, tenantId, body.name, head.latest_version);
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

    // 3. sandbox: every sample (the document's and the recorded ones) in a bounded worker.
    t = performance.now();
    if (unchangedVersion !== null) {
      stages.push({ name: 'sandbox', ok: true, ms: elapsed(t), skipped: true });
    } else {
      const recorded = await this.db
        .selectFrom('policy_samples')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('domain_id', '=', body.domainId)
        .where('usecase_id', '=', body.usecaseId)
        .orderBy('name')
        .execute();
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
        this.sandboxLimits,
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

  /** All four stages: a new immutable version, or a problem naming the stage that failed. */
  async commit(actor: Actor, tenantId: string, raw: unknown, options: CommitOptions = {}): Promise<CommitResult> {
    const prepared = await this.prepare(tenantId, raw, options);
    const result = await this.db.transaction().execute((trx) => this.commitPrepared(trx, actor, prepared, options));
    this.invalidate(tenantId);
    return result;
  }

  /**
   * What `POST /v1/tenants/{id}/policies` does: all four stages, except that a commit the
   * tenant's governance puts behind an approval (`policyChange`) is filed as a pending
   * approval in the commit stage's transaction instead, after the same checks (stages 1-3
   * ran, the semver still increases, no rollout in the way), and nothing is committed.
   */
  async submit(
    actor: Actor,
    tenantId: string,
    raw: unknown,
    options: Omit<CommitOptions, 'approval'> & { role?: string | undefined } = {},
  ): Promise<PolicySubmission> {
    const prepared = await this.prepare(tenantId, raw, options);
    const requester = this.approvalRequester;
    const outcome = await this.db.transaction().execute((trx) =>
      this.#commitIn(
        trx,
        actor,
        prepared,
        options,
        requester
          ? (latestVersion) =>
              requester(trx, actor, {
                tenantId,
                name: prepared.body.name,
                domainId: prepared.body.domainId,
                usecaseId: prepared.body.usecaseId,
                semver: prepared.body.semver,
                digest: prepared.digest,
                document: prepared.document,
                activate: options.activate ?? true,
                source: prepared.source,
                latestVersion,
                role: options.role,
              })
          : undefined,
      ),
    );
    if ('approval' in outcome) return { outcome: 'pending', approval: outcome.approval, stages: prepared.stages };
    this.invalidate(tenantId);
    return { outcome: 'committed', result: outcome };
  }

  /**
   * Commit a document the approvals module approved: the same four stages, and the
   * version records `approvalStatus: approved` with the approval's reference.
   */
  async commitAfterApproval(
    actor: Actor,
    tenantId: string,
    raw: unknown,
    approval: { ref: string },
    options: Omit<CommitOptions, 'approval'> = {},
  ): Promise<CommitResult> {
    return this.commit(actor, tenantId, raw, { ...options, approval });
  }

  /**
   * The commit stage inside the caller's transaction (`POST /v1/apply` commits a whole bundle
   * in one; an approval commits in its decision's). A gated commit fails with 409
   * `policy_approval_required`: {@link submit} is what files approvals.
   */
  async commitPrepared(
    trx: Transaction<Schema>,
    actor: Actor,
    prepared: PreparedPolicy,
    options: CommitOptions = {},
  ): Promise<CommitResult> {
    return (await this.#commitIn(trx, actor, prepared, options)) as CommitResult;
  }

  async #commitIn(
    trx: Transaction<Schema>,
    actor: Actor,
    prepared: PreparedPolicy,
    options: CommitOptions,
    request?: (latestVersion: number) => Promise<Approval>,
  ): Promise<CommitResult | { approval: Approval }> {
    const t = performance.now();
    const stages = [...prepared.stages];
    const { tenantId, body } = prepared;
    const fail = (code: string, status: number, message: string, path: string): never => {
      stages.push({ name: 'commit', ok: false, ms: elapsed(t), errors: [{ path, message }] });
      throw stageFailure(code, status, `${message}; nothing was committed`, stages, [{ path, message }]);
    };
    const phase = await tenantFacts(trx, tenantId, { lock: true });
    if (!phase && !options.tenantSpec) throw notFound('tenant_not_found', `tenant ${tenantId} not found`);
    if (phase && (phase.phase === 'deleting' || phase.phase === 'deleted'))
      fail(`tenant_${phase.phase}`, 409, `tenant ${tenantId} is ${phase.phase}`, '');
    // The head row serializes commits of one policy; re-check what validate saw.
    const head = await trx
      .selectFrom('policy_heads')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('name', '=', body.name)
      .forUpdate()
      .executeTakeFirst();
    const latest = head ? await this.#version(trx, tenantId, body.name, head.latest_version) : undefined;
    const basedOn = options.approval?.basedOnVersion;
    if (basedOn !== undefined && (latest?.version ?? 0) !== basedOn) {
      throw approvalStale(
        latest
          ? `policy ${body.name} is at version ${latest.version} (${latest.semver}), but the change was requested at version ${basedOn}`
          : `policy ${body.name} has no versions any more`,
      );
    }
    if (latest && latest.digest === prepared.digest) {
      stages.push({ name: 'commit', ok: true, ms: elapsed(t), skipped: true });
      return {
        policy: toVersionInfo(latest),
        committed: false,
        active: head!.stable_version === latest.version,
        stages,
      };
    }
    if (latest && !semver.gt(body.semver, latest.semver))
      fail(
        'policy_semver_not_increasing',
        409,
        `semver must be greater than the latest version's ${latest.semver} (committed meanwhile)`,
        '/semver',
      );
    const activate = options.activate ?? true;
    if (head && head.canary_version !== null && activate && basedOn !== undefined)
      throw approvalStale(
        `a rollout of version ${head.canary_version} of policy ${body.name} started after the change was requested`,
      );
    if (head && head.canary_version !== null && activate)
      fail(
        'policy_rollout_in_progress',
        409,
        `policy ${body.name} has a rollout of version ${head.canary_version} in progress; promote or roll it back first, or commit with activate=false`,
        '',
      );
    let approvalStatus: ApprovalStatus = 'not_required';
    if (options.approval) approvalStatus = 'approved';
    else if (this.approvalGate) {
      const needed = await this.approvalGate(
        {
          tenantId,
          name: body.name,
          domainId: body.domainId,
          usecaseId: body.usecaseId,
          semver: body.semver,
          digest: prepared.digest,
        },
        trx,
      );
      if (needed === 'required' && request) return { approval: await request(latest?.version ?? 0) };
      if (needed === 'required')
        fail(
          'policy_approval_required',
          409,
          `tenant ${tenantId} requires approval for policy changes: commit policy ${body.name} through POST /v1/tenants/${tenantId}/policies, which files an approval request`,
          '',
        );
    }
    const version = (latest?.version ?? 0) + 1;
    const now = new Date().toISOString();
    await trx
      .insertInto('policy_versions')
      .values({
        tenant_id: tenantId,
        name: body.name,
        version,
        domain_id: body.domainId,
        usecase_id: body.usecaseId,
        semver: body.semver,
        body: json(prepared.document),
        digest: prepared.digest,
        key_id: prepared.keyId,
        signature: prepared.signature,
        approval_status: approvalStatus,
        approval_ref: options.approval?.ref ?? null,
        source: prepared.source,
        committed_at: now,
        committed_by: actor.id,
      })
      .execute();
    const stable = !head || activate ? version : head.stable_version;
    if (head) {
      await trx
        .updateTable('policy_heads')
        .set({ latest_version: version, stable_version: stable, updated_at: now })
        .where('tenant_id', '=', tenantId)
        .where('name', '=', body.name)
        .execute();
    } else {
      await trx
        .insertInto('policy_heads')
        .values({
          tenant_id: tenantId,
          name: body.name,
          domain_id: body.domainId,
          usecase_id: body.usecaseId,
          latest_version: version,
          stable_version: stable,
          canary_version: null,
          canary_by: null,
          canary_steps: null,
          canary_step: null,
          rollout_id: null,
          rollout_started_at: null,
          updated_at: now,
        })
        .execute();
    }
    const payload = {
      name: body.name,
      domainId: body.domainId,
      usecaseId: body.usecaseId,
      semver: body.semver,
      version,
    };
    await this.audit.recordChange(trx, {
      actor,
      action: 'policy.commit',
      target: `tenant/${tenantId}/policy/${body.name}`,
      tenantId,
      outcome: 'success',
      details: {
        ...payload,
        digest: prepared.digest,
        keyId: prepared.keyId,
        approvalStatus,
        ...(options.approval ? { approvalRef: options.approval.ref } : {}),
        active: stable === version,
        ...(prepared.source ? { source: prepared.source } : {}),
      },
      event: { type: 'policy.committed', tenantId, payload },
    });
    stages.push({ name: 'commit', ok: true, ms: elapsed(t) });
    const row = await this.#version(trx, tenantId, body.name, version);
    return { policy: toVersionInfo(row), committed: true, active: stable === version, stages };
  }

  // ---------------------------------------------------------------- reads

  /** A tenant's policies, by name. */
  async list(
    tenantId: string,
    filter: { domainId?: string | undefined; usecaseId?: string | undefined } = {},
  ): Promise<PolicyInfo[]> {
    let q = this.db.selectFrom('policy_heads').selectAll().where('tenant_id', '=', tenantId);
    if (filter.domainId) q = q.where('domain_id', '=', filter.domainId);
    if (filter.usecaseId) q = q.where('usecase_id', '=', filter.usecaseId);
    const heads = await q.orderBy('name').execute();
    const out: PolicyInfo[] = [];
    for (const h of heads) out.push(await this.#info(h));
    return out;
  }

  /** One policy, or a 404. */
  async get(tenantId: string, name: string): Promise<PolicyInfo> {
    return this.#info(await this.#head(this.db, tenantId, name));
  }

  /** Every version of a policy, oldest first. */
  async versions(tenantId: string, name: string): Promise<PolicyVersionInfo[]> {
    await this.#head(this.db, tenantId, name);
    const rows = await this.db
      .selectFrom('policy_versions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .orderBy('version')
      .execute();
    return rows.map(toVersionInfo);
  }

  /** One version, or a 404. */
  async version(tenantId: string, name: string, version: number): Promise<PolicyVersionInfo> {
    await this.#head(this.db, tenantId, name);
    return toVersionInfo(await this.#version(this.db, tenantId, name, version));
  }

  // ---------------------------------------------------------------- samples

  /** Record (or replace) a sample request for a domain and use case. */
  async putSample(
    actor: Actor,
    tenantId: string,
    sample: {
      domainId: string;
      usecaseId: string;
      name: string;
      request: Record<string, unknown>;
      expect?: 'allow' | 'deny' | undefined;
    },
  ): Promise<{ created: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      await this.#writableTenant(trx, tenantId);
      const existing = await trx
        .selectFrom('policy_samples')
        .select('name')
        .where('tenant_id', '=', tenantId)
        .where('domain_id', '=', sample.domainId)
        .where('usecase_id', '=', sample.usecaseId)
        .where('name', '=', sample.name)
        .executeTakeFirst();
      const values = {
        request: json(sample.request),
        expect: sample.expect ?? null,
        created_at: new Date().toISOString(),
        created_by: actor.id,
      };
      await trx
        .insertInto('policy_samples')
        .values({
          tenant_id: tenantId,
          domain_id: sample.domainId,
          usecase_id: sample.usecaseId,
          name: sample.name,
          ...values,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'domain_id', 'usecase_id', 'name']).doUpdateSet(values))
        .execute();
      const details = { domainId: sample.domainId, usecaseId: sample.usecaseId, name: sample.name };
      await this.audit.recordChange(trx, {
        actor,
        action: 'policy.sample.put',
        target: `tenant/${tenantId}/policy-sample/${sample.domainId}/${sample.usecaseId}/${sample.name}`,
        tenantId,
        outcome: 'success',
        details,
        event: { type: 'policy.sample_recorded', tenantId, payload: details },
      });
      return { created: !existing };
    });
  }

  /** Recorded samples, optionally of one domain and use case. */
  async listSamples(
    tenantId: string,
    filter: { domainId?: string | undefined; usecaseId?: string | undefined } = {},
  ): Promise<
    Array<{
      domainId: string;
      usecaseId: string;
      name: string;
      request: Record<string, unknown>;
      expect: 'allow' | 'deny' | null;
      createdAt: string;
      createdBy: string;
    }>
  > {
    let q = this.db.selectFrom('policy_samples').selectAll().where('tenant_id', '=', tenantId);
    if (filter.domainId) q = q.where('domain_id', '=', filter.domainId);
    if (filter.usecaseId) q = q.where('usecase_id', '=', filter.usecaseId);
    const rows = await q.orderBy('domain_id').orderBy('usecase_id').orderBy('name').execute();
    return rows.map((r) => ({
      domainId: r.domain_id,
      usecaseId: r.usecase_id,
      name: r.name,
      request: r.request,
      expect: r.expect,
      createdAt: iso(r.created_at),
      createdBy: r.created_by,
    }));
  }

  /** Delete a recorded sample. */
  async deleteSample(actor: Actor, tenantId: string, domainId: string, usecaseId: string, name: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const gone = await trx
        .deleteFrom('policy_samples')
        .where('tenant_id', '=', tenantId)
        .where('domain_id', '=', domainId)
        .where('usecase_id', '=', usecaseId)
        .where('name', '=', name)
        .executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0)
        throw notFound('policy_sample_not_found', `no sample ${domainId}/${usecaseId}/${name}`);
      const details = { domainId, usecaseId, name };
      await this.audit.recordChange(trx, {
        actor,
        action: 'policy.sample.delete',
        target: `tenant/${tenantId}/policy-sample/${domainId}/${usecaseId}/${name}`,
        tenantId,
        outcome: 'success',
        details,
        event: { type: 'policy.sample_deleted', tenantId, payload: details },
      });
    });
  }

  // ---------------------------------------------------------------- rollout

  /** Start a canary of a committed version at the first step (default 10%, then 50%, then 100%). */
  async startRollout(
    actor: Actor,
    tenantId: string,
    name: string,
    input: { version: number; by: 'traffic' | 'tenant'; steps?: number[] | undefined; reason?: string | undefined },
  ): Promise<PolicyInfo> {
    const steps = input.steps ?? DEFAULT_ROLLOUT_STEPS;
    return this.#rolloutChange(
      tenantId,
      name,
      async (trx, head) => {
        if (head.canary_version !== null)
          throw conflict(
            'policy_rollout_in_progress',
            `a rollout of version ${head.canary_version} is in progress; promote or roll it back first`,
          );
        if (input.version === head.stable_version)
          throw conflict('policy_version_already_stable', `version ${input.version} is already the stable version`);
        await this.#version(trx, tenantId, name, input.version);
        const rolloutId = `ro_${randomBytes(8).toString('hex')}`;
        const now = new Date().toISOString();
        await trx
          .updateTable('policy_heads')
          .set({
            canary_version: input.version,
            canary_by: input.by,
            canary_steps: JSON.stringify(steps),
            canary_step: 0,
            rollout_id: rolloutId,
            rollout_started_at: now,
            updated_at: now,
          })
          .where('tenant_id', '=', tenantId)
          .where('name', '=', name)
          .execute();
        return {
          action: 'start',
          event: 'rollout_started',
          details: {
            rolloutId,
            version: input.version,
            stableVersion: head.stable_version,
            by: input.by,
            steps,
            percent: steps[0]!,
            ...(input.reason ? { reason: input.reason } : {}),
          },
        };
      },
      actor,
    );
  }

  /** Move the canary to its next step; past the last step the canary version becomes stable. */
  async promote(actor: Actor, tenantId: string, name: string, reason?: string): Promise<PolicyInfo> {
    return this.#rolloutChange(
      tenantId,
      name,
      async (trx, head) => {
        if (head.canary_version === null)
          throw conflict('policy_no_rollout', `policy ${name} has no rollout in progress`);
        const steps = head.canary_steps ?? DEFAULT_ROLLOUT_STEPS;
        const next = (head.canary_step ?? 0) + 1;
        const now = new Date().toISOString();
        const base = { rolloutId: head.rollout_id, version: head.canary_version, ...(reason ? { reason } : {}) };
        if (next >= steps.length || steps[next - 1] === 100) {
          await trx
            .updateTable('policy_heads')
            .set({
              stable_version: head.canary_version,
              canary_version: null,
              canary_by: null,
              canary_steps: null,
              canary_step: null,
              rollout_id: null,
              rollout_started_at: null,
              updated_at: now,
            })
            .where('tenant_id', '=', tenantId)
            .where('name', '=', name)
            .execute();
          return {
            action: 'complete',
            event: 'rollout_completed',
            details: { ...base, previousStableVersion: head.stable_version, percent: 100 },
          };
        }
        await trx
          .updateTable('policy_heads')
          .set({ canary_step: next, updated_at: now })
          .where('tenant_id', '=', tenantId)
          .where('name', '=', name)
          .execute();
        return {
          action: 'promote',
          event: 'rollout_promoted',
          details: { ...base, from: steps[next - 1]!, percent: steps[next]! },
        };
      },
      actor,
    );
  }

  /** Abandon the canary: all traffic goes back to the stable version. */
  async rollback(actor: Actor, tenantId: string, name: string, reason?: string): Promise<PolicyInfo> {
    return this.#rolloutChange(
      tenantId,
      name,
      async (trx, head) => {
        if (head.canary_version === null)
          throw conflict('policy_no_rollout', `policy ${name} has no rollout in progress`);
        const steps = head.canary_steps ?? DEFAULT_ROLLOUT_STEPS;
        const now = new Date().toISOString();
        await trx
          .updateTable('policy_heads')
          .set({
            canary_version: null,
            canary_by: null,
            canary_steps: null,
            canary_step: null,
            rollout_id: null,
            rollout_started_at: null,
            updated_at: now,
          })
          .where('tenant_id', '=', tenantId)
          .where('name', '=', name)
          .execute();
        return {
          action: 'rollback',
          event: 'rollout_rolled_back',
          details: {
            rolloutId: head.rollout_id,
            version: head.canary_version,
            stableVersion: head.stable_version,
            percent: steps[head.canary_step ?? 0]!,
            ...(reason ? { reason } : {}),
          },
        };
      },
      actor,
    );
  }

  async #rolloutChange(
    tenantId: string,
    name: string,
    change: (
      trx: Transaction<Schema>,
      head: HeadRow,
    ) => Promise<{ action: string; event: string; details: Record<string, unknown> }>,
    actor: Actor,
  ): Promise<PolicyInfo> {
    const info = await this.db.transaction().execute(async (trx) => {
      await this.#writableTenant(trx, tenantId);
      const head = await this.#head(trx, tenantId, name, true);
      const { action, event, details } = await change(trx, head);
      await this.audit.recordChange(trx, {
        actor,
        action: `policy.rollout.${action}`,
        target: `tenant/${tenantId}/policy/${name}`,
        tenantId,
        outcome: 'success',
        details: { name, ...details },
        event: {
          type: `policy.${event}`,
          tenantId,
          payload: { name, domainId: head.domain_id, usecaseId: head.usecase_id, ...details },
        },
      });
      return this.#info(await this.#head(trx, tenantId, name), trx);
    });
    this.invalidate(tenantId);
    return info;
  }

  // ---------------------------------------------------------------- evaluate

  /**
   * Decide a request under the tenant's policies of a domain and use case. Each policy
   * answers with its stable version, or its canary version for the rollout's share; a
   * deny from any policy decides, else the first allow. Compiled versions are cached.
   */
  async evaluate(tenantId: string, input: EvaluateInput): Promise<EvaluateResult> {
    // The fast path runs synchronously on cached heads and compiled versions; a miss loads them once.
    const hit = this.#decide(tenantId, input);
    if (hit) return hit;
    const heads = await this.#loadHeads(tenantId, input.domainId, input.usecaseId);
    for (const head of heads) {
      await this.#loadCompiled(tenantId, head.name, head.stable_version);
      if (head.canary_version !== null) await this.#loadCompiled(tenantId, head.name, head.canary_version);
    }
    return this.#decide(tenantId, input, true)!;
  }

  /**
   * The synchronous fast path for in-process callers: the same answer as {@link evaluate}
   * when the namespace's heads and versions are cached, undefined when they are not (call
   * `evaluate` once to load them).
   */
  tryEvaluate(tenantId: string, input: EvaluateInput): EvaluateResult | undefined {
    return this.#decide(tenantId, input);
  }

  /** Decide from the caches; undefined when something is not cached (unless `loaded`). */
  #decide(tenantId: string, input: EvaluateInput, loaded = false): EvaluateResult | undefined {
    const cached = this.#heads.get(`${tenantId}/${input.domainId}/${input.usecaseId}`);
    if (!cached || (!loaded && cached.until <= Date.now())) return undefined;
    const decisions: PolicyDecision[] = [];
    let trafficKey: string | undefined;
    for (const head of cached.heads) {
      if (input.policy !== undefined && head.name !== input.policy) continue;
      let version = head.stable_version;
      let canary = false;
      if (head.canary_version !== null && head.rollout_id !== null) {
        const percent = (head.canary_steps ?? DEFAULT_ROLLOUT_STEPS)[head.canary_step ?? 0] ?? 0;
        const key =
          head.canary_by === 'tenant' ? tenantId : (trafficKey ??= input.key ?? canonicalize(input.request) ?? '');
        if (rolloutBucket(head.rollout_id, key) < percent) {
          version = head.canary_version;
          canary = true;
        }
      }
      const entry = this.#compiled.get(`${tenantId}/${head.name}/${version}`);
      if (!entry) return undefined;
      const d = entry.compiled.decide(input.request);
      decisions.push({
        policy: head.name,
        version,
        semver: entry.semver,
        canary,
        decision: d.decision,
        rule: d.rule,
        ...(d.errors.length > 0 ? { errors: d.errors } : {}),
      });
    }
    if (decisions.length === 0) {
      throw notFound(
        'policy_not_found',
        input.policy !== undefined
          ? `tenant ${tenantId} has no policy ${input.policy} in ${input.domainId}/${input.usecaseId}`
          : `tenant ${tenantId} has no policy in ${input.domainId}/${input.usecaseId}`,
      );
    }
    const decisive = decisions.find((d) => d.decision === 'deny') ?? decisions[0]!;
    return {
      decision: decisive.decision,
      rule: decisive.rule,
      policy: decisive.policy,
      version: decisive.version,
      semver: decisive.semver,
      canary: decisive.canary,
      policies: decisions,
    };
  }

  /** Forget cached heads of a tenant (after a change here; other replicas' caches expire). */
  invalidate(tenantId: string): void {
    for (const key of this.#heads.keys()) if (key.startsWith(`${tenantId}/`)) this.#heads.delete(key);
  }

  async #loadHeads(tenantId: string, domainId: string, usecaseId: string): Promise<HeadRow[]> {
    const key = `${tenantId}/${domainId}/${usecaseId}`;
    const now = Date.now();
    const heads = await this.db
      .selectFrom('policy_heads')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('domain_id', '=', domainId)
      .where('usecase_id', '=', usecaseId)
      .orderBy('name')
      .execute();
    if (this.#heads.size > 10_000) this.#heads.clear();
    this.#heads.set(key, { until: now + (this.options.headCacheMs ?? 1_000), heads });
    return heads;
  }

  async #loadCompiled(
    tenantId: string,
    name: string,
    version: number,
  ): Promise<{ semver: string; compiled: CompiledPolicy }> {
    const key = `${tenantId}/${name}/${version}`;
    const hit = this.#compiled.get(key);
    if (hit) return hit;
    const row = await this.#version(this.db, tenantId, name, version);
    const body = row.body as unknown as PolicyBody;
    const entry = {
      semver: row.semver,
      compiled: compileRules({ fields: body.fields, defaultEffect: body.defaultEffect ?? 'deny', rules: body.rules }),
    };
    if (this.#compiled.size > 5_000) this.#compiled.delete(this.#compiled.keys().next().value!);
    this.#compiled.set(key, entry);
    return entry;
  }

  // ---------------------------------------------------------------- helpers

  async #tenant(tenantId: string, given?: Record<string, unknown>): Promise<{ spec: Record<string, unknown> }> {
    const row = await tenantFacts(this.db, tenantId);
    if (!row) {
      if (given) return { spec: given };
      throw notFound('tenant_not_found', `tenant ${tenantId} not found`);
    }
    if (row.phase === 'deleting' || row.phase === 'deleted')
      throw conflict(`tenant_${row.phase}`, `tenant ${tenantId} is ${row.phase}; its policies cannot change`);
    return { spec: given ?? (row.spec as unknown as Record<string, unknown>) };
  }

  async #writableTenant(trx: Transaction<Schema>, tenantId: string): Promise<void> {
    const row = await tenantFacts(trx, tenantId);
    if (!row) throw notFound('tenant_not_found', `tenant ${tenantId} not found`);
    if (row.phase === 'deleting' || row.phase === 'deleted')
      throw conflict(`tenant_${row.phase}`, `tenant ${tenantId} is ${row.phase}; its policies cannot change`);
  }

  async #head(db: Db, tenantId: string, name: string, lock = false): Promise<HeadRow> {
    let q = db.selectFrom('policy_heads').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name);
    if (lock) q = q.forUpdate();
    const head = await q.executeTakeFirst();
    if (!head) throw notFound('policy_not_found', `tenant ${tenantId} has no policy ${name}`);
    return head;
  }

  async #version(db: Db, tenantId: string, name: string, version: number): Promise<VersionRow> {
    const row = await db
      .selectFrom('policy_versions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) throw notFound('policy_version_not_found', `policy ${name} has no version ${version}`);
    return row;
  }

  async #info(head: HeadRow, db: Db = this.db): Promise<PolicyInfo> {
    const stable = await this.#version(db, head.tenant_id, head.name, head.stable_version);
    const steps = head.canary_steps ?? DEFAULT_ROLLOUT_STEPS;
    return {
      tenantId: head.tenant_id,
      name: head.name,
      domainId: head.domain_id,
      usecaseId: head.usecase_id,
      latestVersion: head.latest_version,
      stableVersion: head.stable_version,
      stableSemver: stable.semver,
      rollout:
        head.canary_version !== null && head.rollout_id !== null
          ? {
              id: head.rollout_id,
              version: head.canary_version,
              by: head.canary_by ?? 'traffic',
              steps,
              step: head.canary_step ?? 0,
              percent: steps[head.canary_step ?? 0] ?? 0,
              startedAt: iso(head.rollout_started_at!),
            }
          : null,
      updatedAt: iso(head.updated_at),
    };
  }
}

/**
 * Remove everything policies keep for a tenant (versions, heads, samples, keys) inside
 * the purge's transaction; the only path that may delete versions. Returns the number of
 * versions removed.
 */
export async function purgeTenantPolicies(trx: Transaction<Schema>, tenantId: string): Promise<number> {
  await sql`select set_config('tenancy.purging_tenant', ${tenantId}, true)`.execute(trx);
  const versions = await trx.deleteFrom('policy_versions').where('tenant_id', '=', tenantId).executeTakeFirst();
  await sql`select set_config('tenancy.purging_tenant', '', true)`.execute(trx);
  await trx.deleteFrom('policy_heads').where('tenant_id', '=', tenantId).execute();
  await trx.deleteFrom('policy_samples').where('tenant_id', '=', tenantId).execute();
  await trx.deleteFrom('policy_keys').where('tenant_id', '=', tenantId).execute();
  return Number(versions.numDeletedRows);
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

function toVersionInfo(r: VersionRow): PolicyVersionInfo {
  return {
    tenantId: r.tenant_id,
    name: r.name,
    domainId: r.domain_id,
    usecaseId: r.usecase_id,
    version: r.version,
    semver: r.semver,
    digest: r.digest,
    keyId: r.key_id,
    approvalStatus: r.approval_status as ApprovalStatus,
    approvalRef: r.approval_ref,
    source: r.source,
    committedAt: iso(r.committed_at),
    committedBy: r.committed_by,
    document: r.body,
  };
}

function elapsed(t: number): number {
  return Math.round((performance.now() - t) * 10) / 10;
}
