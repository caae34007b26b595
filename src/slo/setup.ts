/**
 * The SLO service as the control plane builds it: its SLI store, clock, pace and metrics.
 */
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { StartOptions } from '../control-plane-types.js';
import type { AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { TenantRegistry } from '../tenants/index.js';
import { SliStore } from './sli-store.js';
import { SloService } from './slo-service.js';

/** Build the SLO service (started by the caller once the plane is up). */
export function buildSlo(
  setup: {
    db: Kysely<Schema>;
    audit: AuditLog;
    registry: TenantRegistry;
    config: Pick<Config, 'sloEvaluateIntervalMs'>;
    metrics: Registry;
    options: StartOptions['slo'];
  },
  log: (error: unknown, what: string) => void,
): SloService {
  const o = setup.options;
  const slis = new SliStore(setup.db, {
    ...(o?.flushIntervalMs !== undefined ? { flushIntervalMs: o.flushIntervalMs } : {}),
    onError: (error) => log(error, 'SLI flush'),
  });
  return new SloService(setup.db, setup.audit, setup.registry, slis, {
    ...(o?.now ? { now: o.now } : {}),
    evaluateIntervalMs: o?.evaluateIntervalMs ?? setup.config.sloEvaluateIntervalMs,
    metrics: setup.metrics,
    ...(o?.recoverAfterMs !== undefined ? { recoverAfterMs: o.recoverAfterMs } : {}),
    onError: (error) => log(error, 'SLO evaluation'),
  });
}
