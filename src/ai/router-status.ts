/**
 * `GET /v1/tenants/{id}/router`: the tenant's routing as it stands: its chain, its budget
 * windows (limit, spent, held), its breakers (this replica's), and whether the budget
 * threshold has downgraded it to its fallback chain.
 */
import type { BreakerState } from './breakers.js';
import type { ModelRouter } from './model-router.js';
import { namedModels, sovereigntyBlock } from './tenant-routing.js';

/** What the status shows. */
export interface RouterStatus {
  tenantId: string;
  primary: string;
  fallback: string[];
  models: string[];
  budget: {
    threshold: number;
    action: string;
    downgraded: boolean;
    windows: Array<{
      window: 'day' | 'month';
      key: string;
      limitUsd: number | null;
      spentUsd: number;
      reservedUsd: number;
      remainingUsd: number | null;
      resetsAt: string;
    }>;
  };
  breakers: BreakerState[];
}

/** The status of `tenantId`'s router. */
export async function routerStatus(router: ModelRouter, tenantId: string): Promise<RouterStatus> {
  const routing = await router.deps.routings.of(tenantId);
  const windows = await router.deps.ledger.status(tenantId, routing.limits);
  const crossed = windows.some(
    (w) =>
      w.limitMicros !== null &&
      (w.limitMicros === 0 || (w.spentMicros + w.reservedMicros) / w.limitMicros >= routing.threshold),
  );
  return {
    tenantId,
    primary: routing.spec.primary.model,
    fallback: routing.spec.fallback,
    models: namedModels(routing.spec),
    budget: {
      threshold: routing.threshold,
      action: routing.action,
      downgraded:
        routing.action === 'downgrade_to_fallback' &&
        routing.spec.fallback.length > 0 &&
        (crossed || router.downgraded(tenantId)),
      windows: windows.map((w) => ({
        window: w.window,
        key: w.key,
        limitUsd: w.limitMicros === null ? null : w.limitMicros / 1e6,
        spentUsd: w.spentMicros / 1e6,
        reservedUsd: w.reservedMicros / 1e6,
        remainingUsd:
          w.limitMicros === null ? null : Math.max(0, w.limitMicros - w.spentMicros - w.reservedMicros) / 1e6,
        resetsAt: w.resetsAt.toISOString(),
      })),
    },
    breakers: router.deps.breakers.states(tenantId),
  };
}

/** The models the tenant may use now (its router's, in the catalogue, allowed by its sovereignty rules). */
export async function tenantModels(
  router: ModelRouter,
  tenantId: string,
): Promise<Array<{ id: string; kind: string; provider: string; region: string; contextWindow: number }>> {
  const routing = await router.deps.routings.of(tenantId);
  const catalogue = await router.deps.catalogue.snapshot();
  const out = [];
  for (const name of namedModels(routing.spec)) {
    const resolved = catalogue.models.get(name);
    if (!resolved || sovereigntyBlock(routing.rules, resolved)) continue;
    out.push({
      id: name,
      kind: resolved.model.kind,
      provider: resolved.provider.name,
      region: resolved.provider.region,
      contextWindow: resolved.model.contextWindow,
    });
  }
  return out;
}
