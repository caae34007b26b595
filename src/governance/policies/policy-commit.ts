/**
 * The commit stage: under the tenant's and the policy's row locks it re-checks what
 * validate saw, asks the approvals module whether the commit needs an approval, and writes
 * the new immutable version and the policy's head, audited and evented (`policy.committed`
 * carries `{ name, domainId, usecaseId, semver, version }`).
 */
import type { ErrorCode } from '../../contract/index.js';
import type { Transaction } from 'kysely';
import semver from 'semver';
import { notFound } from '../../errors.js';
import { json } from '../../infra/sql/index.js';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import { tenantFacts } from '../../tenants/tenant-rows.js';
import { approvalStale, type Approval } from '../approvals/approval-model.js';
import type { PreparedPolicy } from './policy-prepare.js';
import type { CommitOptions } from './policy-stages.js';
import { elapsed, stageFailure, type StageReport } from './policy-stages.js';
import {
  findVersion,
  NO_ROLLOUT,
  toVersionInfo,
  updateHead,
  type ApprovalStatus,
  type PolicyVersionInfo,
} from './policy-store.js';

/** The outcome of a commit. */
export interface CommitResult {
  policy: PolicyVersionInfo;
  /** False when the document equals the latest version (nothing new was committed). */
  committed: boolean;
  active: boolean;
  stages: StageReport[];
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

export type { CommitOptions };

/** What the commit stage writes with: the audit log, and the approvals module's gate when wired. */
export interface CommitDeps {
  audit: AuditLog;
  approvalGate: ApprovalGate | undefined;
}

/**
 * The commit stage inside `trx`. A commit the gate puts behind an approval files one
 * through `request` when given (nothing is committed), else fails with 409
 * `policy_approval_required`.
 */
export async function commitStage(
  deps: CommitDeps,
  trx: Transaction<Schema>,
  actor: Actor,
  prepared: PreparedPolicy,
  options: CommitOptions,
  request?: (latestVersion: number) => Promise<Approval>,
): Promise<CommitResult | { approval: Approval }> {
  const t = performance.now();
  const stages = [...prepared.stages];
  const { tenantId, body } = prepared;
  const fail = (code: ErrorCode, status: number, message: string, path: string): never => {
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
  const latest = head ? await findVersion(trx, tenantId, body.name, head.latest_version) : undefined;
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
  else if (deps.approvalGate) {
    const needed = await deps.approvalGate(
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
    await updateHead(trx, tenantId, body.name, { latest_version: version, stable_version: stable, updated_at: now });
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
        ...NO_ROLLOUT,
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
  await deps.audit.recordChange(trx, {
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
  const row = await findVersion(trx, tenantId, body.name, version);
  return { policy: toVersionInfo(row), committed: true, active: stable === version, stages };
}
