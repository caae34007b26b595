/**
 * The policy service: the four-stage commit (parse, validate, sandbox, commit; each
 * reported, and a failure at any stage commits nothing), immutable versions with their
 * history, recorded sample requests, canary rollouts (10% -> 50% -> 100% of traffic or
 * of tenants, promoted or rolled back) and the evaluation fast path (each version
 * compiled once and cached). Each part lives in its own file; this class wires them and
 * forgets cached heads after every change.
 *
 * Every write is audited and evented in its transaction; `policy.committed` carries
 * `{ name, domainId, usecaseId, semver, version }`.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import {
  commitStage,
  type ApprovalGate,
  type CommitDeps,
  type CommitOptions,
  type CommitResult,
  type PolicyApprovalRequester,
  type PolicySubmission,
} from './policy-commit.js';
import { PolicyEvaluator, type EvaluateInput, type EvaluateResult } from './policy-evaluator.js';
import type { PolicyKeyStore } from './policy-keys.js';
import { preparePolicy, type PreparedPolicy } from './policy-prepare.js';
import { PolicyRollouts } from './policy-rollout.js';
import { PolicySamples, type RecordedSample, type SampleInput } from './policy-samples.js';
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from './policy-sandbox.js';
import {
  findHead,
  findVersion,
  toPolicyInfo,
  toVersionInfo,
  type PolicyInfo,
  type PolicyVersionInfo,
} from './policy-store.js';

/** The policy service. */
export class PolicyService {
  /** Set by the approvals module: decides whether a commit needs an approved request first. */
  approvalGate: ApprovalGate | undefined;
  /** Set by the approvals module: files the pending approval when {@link submit} meets a gated commit. */
  approvalRequester: PolicyApprovalRequester | undefined;
  readonly #evaluator: PolicyEvaluator;
  readonly #samples: PolicySamples;
  readonly #rollouts: PolicyRollouts;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly keys: PolicyKeyStore,
    private readonly options: { sandbox?: SandboxLimits; headCacheMs?: number } = {},
  ) {
    this.#evaluator = new PolicyEvaluator(db, options.headCacheMs);
    this.#samples = new PolicySamples(db, audit);
    this.#rollouts = new PolicyRollouts(db, audit);
  }

  /** The limits the sandbox stage runs samples under. */
  get sandboxLimits(): SandboxLimits {
    return this.options.sandbox ?? DEFAULT_SANDBOX_LIMITS;
  }

  // ---------------------------------------------------------------- commit

  /**
   * Run parse, validate and sandbox without committing (the approvals module calls this
   * when a request is filed). Throws a 400/409/422 problem naming the failing stage, with
   * every stage's report in `stages`.
   */
  prepare(
    tenantId: string,
    raw: unknown,
    options: Pick<CommitOptions, 'source' | 'tenantSpec'> = {},
  ): Promise<PreparedPolicy> {
    return preparePolicy({ db: this.db, keys: this.keys, sandboxLimits: this.sandboxLimits }, tenantId, raw, options);
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
      commitStage(
        this.#commitDeps(),
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
    return (await commitStage(this.#commitDeps(), trx, actor, prepared, options)) as CommitResult;
  }

  #commitDeps(): CommitDeps {
    return { audit: this.audit, approvalGate: this.approvalGate };
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
    for (const h of heads) out.push(await toPolicyInfo(this.db, h));
    return out;
  }

  /** One policy, or a 404. */
  async get(tenantId: string, name: string): Promise<PolicyInfo> {
    return toPolicyInfo(this.db, await findHead(this.db, tenantId, name));
  }

  /** Every version of a policy, oldest first. */
  async versions(tenantId: string, name: string): Promise<PolicyVersionInfo[]> {
    await findHead(this.db, tenantId, name);
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
    await findHead(this.db, tenantId, name);
    return toVersionInfo(await findVersion(this.db, tenantId, name, version));
  }

  // ---------------------------------------------------------------- samples

  /** Record (or replace) a sample request for a domain and use case. */
  putSample(actor: Actor, tenantId: string, sample: SampleInput): Promise<{ created: boolean }> {
    return this.#samples.put(actor, tenantId, sample);
  }

  /** Recorded samples, optionally of one domain and use case. */
  listSamples(
    tenantId: string,
    filter: { domainId?: string | undefined; usecaseId?: string | undefined } = {},
  ): Promise<RecordedSample[]> {
    return this.#samples.list(tenantId, filter);
  }

  /** Delete a recorded sample. */
  deleteSample(actor: Actor, tenantId: string, domainId: string, usecaseId: string, name: string): Promise<void> {
    return this.#samples.delete(actor, tenantId, domainId, usecaseId, name);
  }

  // ---------------------------------------------------------------- rollout

  /** Start a canary of a committed version at the first step (default 10%, then 50%, then 100%). */
  async startRollout(
    actor: Actor,
    tenantId: string,
    name: string,
    input: { version: number; by: 'traffic' | 'tenant'; steps?: number[] | undefined; reason?: string | undefined },
  ): Promise<PolicyInfo> {
    const info = await this.#rollouts.start(actor, tenantId, name, input);
    this.invalidate(tenantId);
    return info;
  }

  /** Move the canary to its next step; past the last step the canary version becomes stable. */
  async promote(actor: Actor, tenantId: string, name: string, reason?: string): Promise<PolicyInfo> {
    const info = await this.#rollouts.promote(actor, tenantId, name, reason);
    this.invalidate(tenantId);
    return info;
  }

  /** Abandon the canary: all traffic goes back to the stable version. */
  async rollback(actor: Actor, tenantId: string, name: string, reason?: string): Promise<PolicyInfo> {
    const info = await this.#rollouts.rollback(actor, tenantId, name, reason);
    this.invalidate(tenantId);
    return info;
  }

  // ---------------------------------------------------------------- evaluate

  /**
   * Decide a request under the tenant's policies of a domain and use case. Each policy
   * answers with its stable version, or its canary version for the rollout's share; a
   * deny from any policy decides, else the first allow. Compiled versions are cached.
   */
  evaluate(tenantId: string, input: EvaluateInput): Promise<EvaluateResult> {
    return this.#evaluator.evaluate(tenantId, input);
  }

  /**
   * The synchronous fast path for in-process callers: the same answer as {@link evaluate}
   * when the namespace's heads and versions are cached, undefined when they are not (call
   * `evaluate` once to load them).
   */
  tryEvaluate(tenantId: string, input: EvaluateInput): EvaluateResult | undefined {
    return this.#evaluator.tryEvaluate(tenantId, input);
  }

  /** Forget cached heads of a tenant (after a change here; other replicas' caches expire). */
  invalidate(tenantId: string): void {
    this.#evaluator.invalidate(tenantId);
  }
}
