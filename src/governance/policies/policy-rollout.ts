/**
 * Canary rollouts of a committed version: 10% -> 50% -> 100% of traffic (bucketed by a
 * request key) or of tenants, promoted step by step or rolled back. Every change is audited
 * and evented (`policy.rollout_started`, `_promoted`, `_completed`, `_rolled_back`).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { conflict } from '../../errors.js';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import {
  DEFAULT_ROLLOUT_STEPS,
  findHead,
  findVersion,
  NO_ROLLOUT,
  toPolicyInfo,
  updateHead,
  writableTenant,
  type HeadRow,
  type PolicyInfo,
} from './policy-store.js';

/** Percent bucket (0 <= b < 100) of `key` in a rollout: stable, and uniform. */
export function rolloutBucket(rolloutId: string, key: string): number {
  const h = createHash('sha256').update(rolloutId).update('\0').update(key).digest();
  return (h.readUInt32BE(0) / 0x1_0000_0000) * 100;
}

/** What a rollout change did, for its audit record and event. */
interface RolloutChange {
  action: string;
  event: string;
  details: Record<string, unknown>;
}

/** The version a policy's rollout is moving to, or a 409 when none is in progress. */
function canaryVersion(head: HeadRow, name: string): number {
  if (head.canary_version === null) throw conflict('policy_no_rollout', `policy ${name} has no rollout in progress`);
  return head.canary_version;
}

/** Starts, promotes and rolls back canaries; the caller forgets its cached heads after each. */
export class PolicyRollouts {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
  ) {}

  /** Start a canary of a committed version at the first step (default 10%, then 50%, then 100%). */
  async start(
    actor: Actor,
    tenantId: string,
    name: string,
    input: { version: number; by: 'traffic' | 'tenant'; steps?: number[] | undefined; reason?: string | undefined },
  ): Promise<PolicyInfo> {
    const steps = input.steps ?? DEFAULT_ROLLOUT_STEPS;
    return this.#change(actor, tenantId, name, async (trx, head) => {
      if (head.canary_version !== null)
        throw conflict(
          'policy_rollout_in_progress',
          `a rollout of version ${head.canary_version} is in progress; promote or roll it back first`,
        );
      if (input.version === head.stable_version)
        throw conflict('policy_version_already_stable', `version ${input.version} is already the stable version`);
      await findVersion(trx, tenantId, name, input.version);
      const rolloutId = `ro_${randomBytes(8).toString('hex')}`;
      const now = new Date().toISOString();
      await updateHead(trx, tenantId, name, {
        canary_version: input.version,
        canary_by: input.by,
        canary_steps: JSON.stringify(steps),
        canary_step: 0,
        rollout_id: rolloutId,
        rollout_started_at: now,
        updated_at: now,
      });
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
    });
  }

  /** Move the canary to its next step; past the last step the canary version becomes stable. */
  async promote(actor: Actor, tenantId: string, name: string, reason?: string): Promise<PolicyInfo> {
    return this.#change(actor, tenantId, name, async (trx, head) => {
      const version = canaryVersion(head, name);
      const steps = head.canary_steps ?? DEFAULT_ROLLOUT_STEPS;
      const next = (head.canary_step ?? 0) + 1;
      const now = new Date().toISOString();
      const base = { rolloutId: head.rollout_id, version, ...(reason ? { reason } : {}) };
      if (next >= steps.length || steps[next - 1] === 100) {
        await updateHead(trx, tenantId, name, { stable_version: version, ...NO_ROLLOUT, updated_at: now });
        return {
          action: 'complete',
          event: 'rollout_completed',
          details: { ...base, previousStableVersion: head.stable_version, percent: 100 },
        };
      }
      await updateHead(trx, tenantId, name, { canary_step: next, updated_at: now });
      return {
        action: 'promote',
        event: 'rollout_promoted',
        details: { ...base, from: steps[next - 1]!, percent: steps[next]! },
      };
    });
  }

  /** Abandon the canary: all traffic goes back to the stable version. */
  async rollback(actor: Actor, tenantId: string, name: string, reason?: string): Promise<PolicyInfo> {
    return this.#change(actor, tenantId, name, async (trx, head) => {
      const version = canaryVersion(head, name);
      const steps = head.canary_steps ?? DEFAULT_ROLLOUT_STEPS;
      await updateHead(trx, tenantId, name, { ...NO_ROLLOUT, updated_at: new Date().toISOString() });
      return {
        action: 'rollback',
        event: 'rollout_rolled_back',
        details: {
          rolloutId: head.rollout_id,
          version,
          stableVersion: head.stable_version,
          percent: steps[head.canary_step ?? 0]!,
          ...(reason ? { reason } : {}),
        },
      };
    });
  }

  /** Run `change` on the locked head in a transaction, with its audit record and event. */
  async #change(
    actor: Actor,
    tenantId: string,
    name: string,
    change: (trx: Transaction<Schema>, head: HeadRow) => Promise<RolloutChange>,
  ): Promise<PolicyInfo> {
    return this.db.transaction().execute(async (trx) => {
      await writableTenant(trx, tenantId);
      const head = await findHead(trx, tenantId, name, true);
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
      return toPolicyInfo(trx, await findHead(trx, tenantId, name));
    });
  }
}
