/**
 * Evaluation: each policy of a domain and use case answers with its stable version, or its
 * canary version for the rollout's share, and a deny from any decides. Heads are cached
 * briefly (other replicas' changes show within `headCacheMs`), versions compiled once.
 */
import canonicalize from 'canonicalize';
import type { Kysely } from 'kysely';
import { notFound } from '../../errors.js';
import type { Schema } from '../../schema.js';
import { compileRules, type CompiledPolicy, type Decision } from './policy-engine.js';
import { rolloutBucket } from './policy-rollout.js';
import type { PolicyBody } from './policy-schema.js';
import { DEFAULT_ROLLOUT_STEPS, findVersion, type HeadRow } from './policy-store.js';

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

/** Decides requests from cached heads and compiled versions. */
export class PolicyEvaluator {
  readonly #heads = new Map<string, { until: number; heads: HeadRow[] }>();
  readonly #compiled = new Map<string, { semver: string; compiled: CompiledPolicy }>();

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly headCacheMs?: number | undefined,
  ) {}

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
    this.#heads.set(key, { until: now + (this.headCacheMs ?? 1_000), heads });
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
    const row = await findVersion(this.db, tenantId, name, version);
    const body = row.body as unknown as PolicyBody;
    const entry = {
      semver: row.semver,
      compiled: compileRules({ fields: body.fields, defaultEffect: body.defaultEffect ?? 'deny', rules: body.rules }),
    };
    if (this.#compiled.size > 5_000) this.#compiled.delete(this.#compiled.keys().next().value!);
    this.#compiled.set(key, entry);
    return entry;
  }
}
