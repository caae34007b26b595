/**
 * Reconcile steps: what one step is, what it sees, and the runner that carries out a
 * phase's steps in order. Two kinds run in each reconcile: resource steps on the engines
 * outside the store (databases, objects, queues), before the status transaction and never
 * inside it; then status steps inside that transaction, on the tenant's locked row.
 */
import type { Transaction } from 'kysely';
import type { ApiKeyStore } from '../../access/index.js';
import type { IsolationContext, TenantResources } from '../../isolation/index.js';
import type { Actor, AuditLog } from '../../ledger/index.js';
import type { KeyRing } from '../../keys/index.js';
import type { Kysely } from 'kysely';
import type { Schema } from '../../schema.js';
import {
  setCondition,
  type Condition,
  type Phase,
  type ReconcileState,
  type TenantRegistry,
  type TenantSpec,
} from '../../tenants/index.js';

/** The actor the controller's changes are audited under. */
export const CONTROLLER_ACTOR: Actor = { id: 'system:controller', correlationId: null };

/** What the steps work with: the control plane's store and the modules they call. */
export interface StepServices {
  db: Kysely<Schema>;
  registry: TenantRegistry;
  audit: AuditLog;
  apiKeys: ApiKeyStore;
  keyRing: KeyRing;
}

/** What every step sees: one tenant as the reconcile read it. */
export interface StepContext {
  id: string;
  phase: Phase;
  tenant: ReconcileState;
  spec: TenantSpec;
  services: StepServices;
}

/** A resource step's view: the engines, and where the tenant's resources are now. */
export interface ResourceStepContext extends StepContext {
  resources: TenantResources;
  /** The tenant's place under its placed profile. */
  place: IsolationContext;
  /** Its resources go now: retention is over, or a delete keeps nothing. */
  removing: boolean;
}

/** A status step's view: the status transaction, holding the tenant's row locked. */
export interface StatusStepContext extends StepContext {
  trx: Transaction<Schema>;
  now: Date;
  /** The tenant's conditions as the steps before left them; a step that writes conditions updates this. */
  conditions: Condition[];
  /** Set by a step that leaves work for another pass (a move after a restore). */
  requeue: boolean;
}

/**
 * One idempotent step of a reconcile: "already there" and "already gone" are success, so
 * running it again after a crash converges. It runs for the phases it names (and when
 * `when` holds), and resolves with the status condition it wrote, if it wrote one.
 */
export interface ReconcileStep<C extends StepContext> {
  readonly name: string;
  readonly phases: readonly Phase[];
  /** Whether there is anything to do beyond the phase (a purge due, a move in progress). */
  readonly when?: (ctx: C) => boolean;
  run(ctx: C): Promise<Condition | undefined>;
}

/** What a run of steps did: the conditions written, and the step that failed, if one did. */
export interface StepsOutcome {
  conditions: Array<{ step: string; condition: Condition }>;
  failure?: { step: string; error: unknown };
}

/**
 * Run, in order, the steps that apply to the tenant's phase. A failure ends the run and is
 * returned, not thrown: each step acts on what the ones before it left (a move finished
 * before resources are ensured, a transaction that failed cannot go on), and the retry
 * runs them all again.
 */
export async function runSteps<C extends StepContext>(
  steps: ReadonlyArray<ReconcileStep<C>>,
  ctx: C,
): Promise<StepsOutcome> {
  const outcome: StepsOutcome = { conditions: [] };
  for (const step of steps) {
    if (!step.phases.includes(ctx.phase) || (step.when && !step.when(ctx))) continue;
    try {
      const condition = await step.run(ctx);
      if (condition) outcome.conditions.push({ step: step.name, condition });
    } catch (error) {
      outcome.failure = { step: step.name, error };
      break;
    }
  }
  return outcome;
}

/**
 * Set `next` on the context's conditions (dropping the types in `drop` first) and return the
 * condition as set; the caller writes `ctx.conditions` with its own status columns.
 */
export function putCondition(
  ctx: StatusStepContext,
  next: Omit<Condition, 'lastTransitionTime'>,
  conditions: Condition[] = ctx.conditions,
): Condition {
  ctx.conditions = setCondition(conditions, next, ctx.now);
  return ctx.conditions.find((c) => c.type === next.type)!;
}

/** Failures that need an operator, not a retry, get a reason of their own (`role_name_taken` -> `RoleNameTaken`). */
const NAMED_FAILURES = new Set(['role_name_taken', 'database_name_taken', 'schema_name_taken']);

/** The `Degraded` condition a failed resource step leaves, with the reason its error names. */
export function degradedCondition(error: unknown): Omit<Condition, 'lastTransitionTime'> {
  const code = (error as { code?: unknown }).code;
  const reason =
    typeof code === 'string' && NAMED_FAILURES.has(code)
      ? code
          .split('_')
          .map((w) => w[0]!.toUpperCase() + w.slice(1))
          .join('')
      : 'ResourceStepFailed';
  const message = (error as { detail?: string; message?: string }).detail ?? (error as Error).message;
  return { type: 'Degraded', status: 'True', reason, message: message.slice(0, 500) };
}
