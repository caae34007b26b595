/**
 * Each tenant's retrieval policy as the guard runs it: its `RetrievalPolicy` document (or
 * the defaults), the patterns compiled and keys parsed once per version, re-read when the
 * registry reports a change (and at most a second late on another replica).
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { RE2JS } from 're2js';
import type { TenantRegistry } from '../tenants/index.js';
import { DEFAULT_RETRIEVAL_POLICY, retrievalPolicySpecSchema, type RetrievalPolicySpec } from './policy-schema.js';
import { compileForbidden, keysFingerprint, sourceKeys } from './trust-guard.js';

/** A policy ready to run. */
export interface ActivePolicy {
  spec: RetrievalPolicySpec;
  /** `default`, or the first 12 hex digits of the SHA-256 of the applied spec. */
  version: string;
  forbidden: RE2JS[];
  keys: Array<{ id: string; key: KeyObject }>;
  keysFingerprint: string;
}

const TTL_MS = 1_000;

function activate(spec: RetrievalPolicySpec, version: string): ActivePolicy {
  return {
    spec,
    version,
    forbidden: compileForbidden(spec),
    keys: sourceKeys(spec),
    keysFingerprint: keysFingerprint(spec),
  };
}

const DEFAULT_POLICY = activate(DEFAULT_RETRIEVAL_POLICY, 'default');

/** Reads and caches tenants' retrieval policies. */
export class PolicyCache {
  readonly #cache = new Map<string, { at: number; policy: ActivePolicy }>();
  readonly #compiled = new Map<string, ActivePolicy>();

  constructor(private readonly registry: TenantRegistry) {
    registry.onChange((id) => this.#cache.delete(id));
  }

  /** The tenant's policy now. */
  async get(tenantId: string): Promise<ActivePolicy> {
    const hit = this.#cache.get(tenantId);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.policy;
    const doc = (await this.registry.documents(tenantId)).find((d) => d.kind === 'RetrievalPolicy');
    let policy = DEFAULT_POLICY;
    if (doc) {
      const version = createHash('sha256').update(JSON.stringify(doc.spec)).digest('hex').slice(0, 12);
      policy = this.#compiled.get(version) ?? activate(retrievalPolicySpecSchema.parse(doc.spec), version);
      this.#compiled.set(version, policy);
      if (this.#compiled.size > 1_000) this.#compiled.delete(this.#compiled.keys().next().value!);
    }
    this.#cache.set(tenantId, { at: Date.now(), policy });
    return policy;
  }
}
