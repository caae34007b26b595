/**
 * Policy commits behind approvals: a tenant whose stored governance lists `policyChange`
 * in `spec.governance.approvals.require` gets a pending approval for each new version
 * instead of the version. Approving runs parse, validate and sandbox again (before the
 * decision's transaction: the sandbox must not hold it), then commits the stored document
 * in the decision's transaction with `approvalStatus: approved` and the approval's id.
 * A policy that moved on since the request (another version, a rollout in the way, a
 * document that no longer validates) makes the approval stale.
 */
import type { Kysely, Transaction } from 'kysely';
import { TenancyError } from '../../errors.js';
import type { Schema } from '../../schema.js';
import { tenantFacts } from '../../tenants/tenant-rows.js';
import type { ApprovalGate } from '../approvals/approval-gate.js';
import { approvalStale, type Approval } from '../approvals/approval-model.js';
import type { PolicyChangeRequest } from './policy-commit.js';
import type { PreparedPolicy } from './policy-prepare.js';
import type { PolicyService } from './policy-service.js';

/** The applier name (and approval kind) of policy commits. */
export const POLICY_CHANGE_APPLIER = 'policyChange';

/** What a policy approval stores as its change. */
interface StoredPolicyChange {
  type: 'policy';
  name: string;
  semver: string;
  document: Record<string, unknown>;
  activate: boolean;
  source: string | null;
}

/**
 * Stage failures at approval time that say the tenant moved on (its keys, allowlist or
 * recorded samples, or the policy's versions), so the request is stale. Sandbox limits and
 * crashes are not in the list: they may pass on another try, and the approval stays pending.
 */
const STALE_WHEN = new Set([
  'policy_unsigned',
  'policy_signature_invalid',
  'policy_domain_not_allowed',
  'policy_rule_kind_not_allowed',
  'policy_namespace_changed',
  'policy_semver_not_increasing',
  'policy_sample_mismatch',
  'policy_unknown_field',
  'policy_rule_invalid',
]);

interface GovernanceApprovals {
  require?: string[];
  approverRoles?: string[];
  notify?: { email?: string[] };
}

function approvalsOf(spec: Record<string, unknown> | undefined): GovernanceApprovals {
  return ((spec?.governance as Record<string, unknown> | undefined)?.approvals ?? {}) as GovernanceApprovals;
}

async function storedApprovals(
  db: Kysely<Schema> | Transaction<Schema>,
  tenantId: string,
): Promise<GovernanceApprovals> {
  return approvalsOf((await tenantFacts(db, tenantId))?.spec);
}

/**
 * Put policy commits of tenants that require `policyChange` behind approvals: sets the
 * policy service's gate and requester, and registers the `policyChange` applier.
 */
export function registerPolicyApprovals(gate: ApprovalGate, policies: PolicyService): void {
  // The tenant's stored settings decide (read in the commit's transaction).
  policies.approvalGate = async ({ tenantId }, trx) =>
    (await storedApprovals(trx, tenantId)).require?.includes('policyChange') ? 'required' : 'not_required';
  policies.approvalRequester = async (trx, actor, change: PolicyChangeRequest) => {
    const settings = await storedApprovals(trx, change.tenantId);
    const payload: StoredPolicyChange = {
      type: 'policy',
      name: change.name,
      semver: change.semver,
      document: change.document,
      activate: change.activate,
      source: change.source,
    };
    return gate.requestApproval(trx, actor, {
      tenantId: change.tenantId,
      kind: 'policyChange',
      summary: `commit policy ${change.name} ${change.semver} (${change.domainId}/${change.usecaseId})${change.activate ? '' : ' without activating it'}`,
      payload: payload as unknown as Record<string, unknown>,
      base: { policy: change.name, latestVersion: change.latestVersion, digest: change.digest },
      applier: POLICY_CHANGE_APPLIER,
      ...(settings.approverRoles ? { approverRoles: settings.approverRoles } : {}),
      ...(settings.notify ? { notify: settings.notify } : {}),
      ...(change.role ? { requestedRole: change.role } : {}),
    });
  };

  gate.onApproved<PreparedPolicy>(POLICY_CHANGE_APPLIER, {
    // Outside the decision's transaction: the same parse, validate and sandbox as a direct commit.
    prepare: async (approval) => {
      const change = storedChange(approval);
      const basedOn = baseVersion(approval);
      const latest = await latestVersion(policies, approval.tenantId, change.name);
      if (latest !== basedOn)
        throw approvalStale(
          `policy ${change.name} is at version ${latest}, but the change was requested at version ${basedOn}`,
        );
      try {
        return await policies.prepare(approval.tenantId, change.document, { source: change.source });
      } catch (error) {
        if (error instanceof TenancyError && STALE_WHEN.has(error.code)) {
          const stage = (error.extensions as { stage?: string } | undefined)?.stage;
          throw approvalStale(
            `the policy no longer passes the ${stage ?? 'commit'} stage (${error.code}: ${error.detail})`,
          );
        }
        throw error;
      }
    },
    // Inside it: the commit stage, re-checking the base under the policy's row lock.
    apply: async (trx, approval, actor, prepared) => {
      const change = storedChange(approval);
      const committed = await policies.commitPrepared(trx, actor, prepared, {
        source: change.source,
        activate: change.activate,
        approval: { ref: approval.id, basedOnVersion: baseVersion(approval) },
      });
      if (!committed.committed)
        throw approvalStale(`policy ${change.name} already has this document as version ${committed.policy.version}`);
      const { name, version, semver } = committed.policy;
      return { result: { policy: name, version, semver, active: committed.active }, tenants: [approval.tenantId] };
    },
  });
  gate.onDecided((_approval, tenants) => {
    for (const id of tenants) policies.invalidate(id);
  });
}

function storedChange(approval: Approval): StoredPolicyChange {
  const change = approval.change as Partial<StoredPolicyChange>;
  if (
    change.type !== 'policy' ||
    typeof change.name !== 'string' ||
    typeof change.document !== 'object' ||
    change.document === null
  ) {
    throw new Error(`approval ${approval.id} does not hold a policy change`);
  }
  return {
    type: 'policy',
    name: change.name,
    semver: String(change.semver),
    document: change.document,
    activate: change.activate !== false,
    source: change.source ?? null,
  };
}

function baseVersion(approval: Approval): number {
  const v = (approval.base as { latestVersion?: unknown }).latestVersion;
  if (typeof v !== 'number') throw new Error(`approval ${approval.id} has no policy base version`);
  return v;
}

async function latestVersion(policies: PolicyService, tenantId: string, name: string): Promise<number> {
  try {
    return (await policies.get(tenantId, name)).latestVersion;
  } catch (error) {
    if (error instanceof TenancyError && error.code === 'policy_not_found') return 0;
    throw error;
  }
}
