/**
 * Commercial: usage meters (raw events, hourly and daily rollups, idempotent ingestion),
 * the monthly cost-allocation report and its price table, and quota accounting for the
 * quotas the control plane enforces or informs (counts an app reserves, storage, monthly
 * cost). Rate limits and the hourly and concurrency quotas are enforced in the SDK.
 */
export { UsageStore, costExceeded } from './usage-store.js';
export type {
  IngestResult,
  UsagePoint,
  UsageQuery,
  CostLine,
  TenantCost,
  CostReport,
  UsageStoreOptions,
} from './usage-store.js';
export { QuotaStore } from './quota-store.js';
export { quotaExceeded, COUNTED_QUOTAS, OBJECT_BYTES_COUNTER } from './quota-counters.js';
export type { CountedQuota, QuotaState, QuotaUse } from './quota-counters.js';
export { UsageSampler } from './usage-sampler.js';
export type { UsageSamplerOptions } from './usage-sampler.js';
export { parsePriceTable, unitPrice, unitOf, quantityOf, roundUsd } from './prices.js';
export type { PriceTable, PriceList } from './prices.js';
export { reportCsv } from './cost-report.js';
export {
  tenantUsageBatchSchema,
  usageBatchSchema,
  bucketStart,
  monthOf,
  monthRange,
  RESOURCE_PATTERN,
  METER_ID_PATTERN,
  GAUGES,
  MAX_BATCH,
  REQUESTS,
  JOBS,
  COST_USD,
  OBJECT_BYTES,
  DATABASE_BYTES,
  DEFAULT_RAW_RETENTION_DAYS,
} from './meters.js';
export type { Meter } from './meters.js';
