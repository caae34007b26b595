/**
 * A tenant's routing as the router acts on it: its `TenantRouter` spec, its data-sovereignty
 * rules, and from them the models it may use and the chain a request tries. Read from the
 * registry and kept two seconds (dropped at once when this replica changes the tenant).
 * A model whose provider region the tenant's rules forbid (placement, cross-border transfer,
 * TLS in transit) is never in a chain, not even as a fallback.
 */
import { evaluateSovereignty, type SovereigntyRules } from '../governance/index.js';
import { TenancyError } from '../errors.js';
import { credentialRefusal, type TenantRegistry } from '../tenants/index.js';
import { DEFAULT_BREAKER, type BreakerSettings } from './breakers.js';
import type { BudgetLimits } from './budget-ledger.js';
import type { CatalogueSnapshot, ResolvedModel } from './catalogue.js';
import { readRouterSpec, type RouterSpec } from './router-spec.js';

/** What the router knows of one tenant. */
export interface TenantRouting {
  tenantId: string;
  spec: RouterSpec;
  rules: SovereigntyRules[];
  limits: BudgetLimits;
  threshold: number;
  action: 'downgrade_to_fallback' | 'deny';
  breaker: BreakerSettings;
}

/** A chain's candidate: the catalogue model and whether it is a fallback. */
export interface Candidate extends ResolvedModel {
  fallback: boolean;
}

const TTL_MS = 2_000;
const usdToMicros = (usd: number | undefined) => (usd === undefined ? undefined : Math.round(usd * 1_000_000));

/** Why a catalogue model may not carry this tenant's data, or undefined when it may. */
export function sovereigntyBlock(rules: SovereigntyRules[], resolved: ResolvedModel): string | undefined {
  const url = resolved.provider.type === 'mock' ? undefined : resolved.provider.baseUrl;
  for (const r of rules) {
    const v = evaluateSovereignty(r, { operation: 'transfer', region: resolved.provider.region, url });
    if (v.length > 0) return v.map((x) => x.detail).join('; ');
  }
  return undefined;
}

/** Per-tenant routing, cached. */
export class TenantRoutings {
  readonly #cache = new Map<string, { value: TenantRouting; until: number }>();

  constructor(private readonly registry: TenantRegistry) {
    registry.onChange((id) => this.#cache.delete(id));
  }

  /** The tenant's routing; 409 `router_not_configured` without a valid `TenantRouter` document. */
  async of(tenantId: string): Promise<TenantRouting> {
    const hit = this.#cache.get(tenantId);
    if (hit && hit.until > Date.now()) return hit.value;
    const tenant = await this.registry.get(tenantId);
    const refusal = credentialRefusal(tenant.status.phase);
    if (refusal)
      throw new TenancyError(refusal.code, `${refusal.detail}; its model calls are refused`, {
        status: 403,
        extensions: { phase: tenant.status.phase },
      });
    const docs = await this.registry.documents(tenantId);
    const routerDoc = docs.find((d) => d.kind === 'TenantRouter');
    const spec = routerDoc ? readRouterSpec(routerDoc.spec) : undefined;
    if (!spec)
      throw new TenancyError(
        'router_not_configured',
        `tenant ${tenantId} has no model router: apply a TenantRouter document (router.yaml) first`,
      );
    const rules = docs.filter((d) => d.kind === 'DataSovereignty').map((d) => d.spec as SovereigntyRules);
    const value: TenantRouting = {
      tenantId,
      spec,
      rules,
      limits: { dailyMicros: usdToMicros(spec.budget?.dailyUsd), monthlyMicros: usdToMicros(spec.budget?.monthlyUsd) },
      threshold: spec.budget?.circuitBreaker?.threshold ?? 0.8,
      action: spec.budget?.circuitBreaker?.action ?? 'downgrade_to_fallback',
      breaker: {
        failureRate: spec.sla?.errorRateMax ?? DEFAULT_BREAKER.failureRate,
        minRequests: spec.breaker?.minRequests ?? DEFAULT_BREAKER.minRequests,
        windowMs: (spec.breaker?.windowSeconds ?? DEFAULT_BREAKER.windowMs / 1000) * 1000,
        cooldownMs: (spec.breaker?.cooldownSeconds ?? DEFAULT_BREAKER.cooldownMs / 1000) * 1000,
      },
    };
    if (this.#cache.size > 50_000) this.#cache.clear();
    this.#cache.set(tenantId, { value, until: Date.now() + TTL_MS });
    return value;
  }

  /** Forget a tenant (its documents changed). */
  invalidate(tenantId: string): void {
    this.#cache.delete(tenantId);
  }
}

/** Every model name the router names (primary, routes, fallbacks, embeddings), in that order. */
export function namedModels(spec: RouterSpec): string[] {
  const names = [spec.primary.model, ...spec.routes.map((r) => r.model), ...spec.fallback];
  if (spec.embeddings) names.push(spec.embeddings.model);
  return [...new Set(names)];
}

/** The model a chat request asks for: a named model, or `auto` routed by its metadata. */
export function chosenModel(spec: RouterSpec, requested: string, metadata: Record<string, string> | undefined): string {
  if (requested !== 'auto') return requested;
  const route = spec.routes.find((r) =>
    Object.entries(r.match).every(([k, v]) => v === undefined || metadata?.[k] === v),
  );
  return route?.model ?? spec.primary.model;
}

/**
 * The chain for a request: the chosen model then the fallbacks, or the fallbacks alone when
 * downgraded; minus models missing from the catalogue, of the wrong kind, or forbidden by
 * sovereignty. Throws 404 for a model the router does not name, 422 when sovereignty leaves
 * nothing.
 */
export function chainFor(
  routing: TenantRouting,
  catalogue: CatalogueSnapshot,
  first: string,
  options: { downgraded: boolean; kind: 'chat' | 'embedding' },
): Candidate[] {
  const { spec } = routing;
  const allowed = namedModels(spec);
  if (!allowed.includes(first))
    throw new TenancyError('model_not_found', `model ${first} is not available to this tenant`, {
      errors: [
        {
          path: '/model',
          message: `must be one of ${(options.kind === 'chat' ? [...allowed, 'auto'] : allowed).join(', ')}`,
        },
      ],
    });
  const named = catalogue.models.get(first);
  if (named && named.model.kind !== options.kind)
    throw new TenancyError(
      'model_not_found',
      `model ${first} is ${named.model.kind === 'chat' ? 'a chat' : 'an embedding'} model; this endpoint needs ${options.kind === 'chat' ? 'a chat' : 'an embedding'} model`,
      { errors: [{ path: '/model', message: `is of kind ${named.model.kind}` }] },
    );
  const names = options.downgraded ? spec.fallback : [first, ...spec.fallback.filter((m) => m !== first)];
  const out: Candidate[] = [];
  const forbidden: string[] = [];
  for (const name of options.kind === 'embedding' ? [first] : names) {
    const resolved = catalogue.models.get(name);
    if (!resolved || resolved.model.kind !== options.kind) continue;
    const why = sovereigntyBlock(routing.rules, resolved);
    if (why) {
      forbidden.push(`${name}: ${why}`);
      continue;
    }
    out.push({ ...resolved, fallback: name !== first });
  }
  if (out.length === 0 && forbidden.length > 0)
    throw new TenancyError(
      'sovereignty_violation',
      `no model this tenant may use can take the request: ${forbidden.join('; ')}`,
      { errors: [{ path: '/model', message: forbidden.join('; ') }] },
    );
  if (out.length === 0)
    throw new TenancyError(
      'model_not_found',
      options.downgraded
        ? 'the budget threshold downgraded the tenant to its fallback chain, which has no usable model'
        : `model ${first} is not in the model catalogue`,
    );
  return out;
}
