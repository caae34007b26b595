/**
 * SLOs: per-tenant objectives over SLIs from real traffic, their error budgets, burn-rate
 * alerts, and the freeze the API enforces.
 */
export { SloService } from './slo-service.js';
export type { FreezeState, SloServiceOptions } from './slo-service.js';
export { SliStore } from './sli-store.js';
export type { SliEvent, SliAggregate } from './sli-store.js';
export { sloSpecSchema, fromOpenSlo, toOpenSlo, goodTarget, OBJECTIVES, SLI_SOURCES } from './slo-schema.js';
export type { SloSpec, SliSource } from './slo-schema.js';
export { sloStatuses, ALERT_RULES, BURN_WINDOWS } from './slo-status.js';
export type { SloStatus, SloDefinition, SloAlert } from './slo-status.js';
export { sliBatchSchema, sliBucketsSchema } from './sli-schema.js';
