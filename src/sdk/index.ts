/**
 * `tenancy/sdk`: what the platform's own apps use on every request. Middleware for
 * Fastify, Express and Hono resolves the caller's credential, loads the tenant context
 * (cached, invalidated by control-plane events), refuses suspended and archived tenants,
 * applies rate limits and quotas, meters usage, and runs the handler with
 * `currentTenant()` available.
 * It also holds a control-plane client, header propagation for outbound calls, and
 * tenant-scoped PostgreSQL access with row-level security, a pino logger and Prometheus
 * metrics that carry the tenant, an app audit logger writing into the tenant's audit
 * stream, an OpenFeature provider for the tenant's flags, weighted fair scheduling of
 * requests and queued jobs across tenants, and search of the tenant's corpora
 * (`tenancy.retrieve()`). It loads no server code.
 */
export { createTenancy, Tenancy, correlationOf } from './tenancy-sdk.js';
export type { TenancyOptions, IncomingRequest, Admission } from './tenancy-sdk.js';
export { currentTenant, currentScope, runInScope, outsideScope } from './request-context.js';
export type { RequestScope } from './request-context.js';
export { TenancyClient } from './tenancy-client.js';
export type { TenancyClientOptions, CallOptions } from './tenancy-client.js';
export { propagationHeaders, tenantFetch } from './propagation.js';
export { tenancyFastify } from './adapters/fastify.js';
export type { FastifyLike, FastifyRequestLike, FastifyReplyLike } from './adapters/fastify.js';
export { tenancyExpress } from './adapters/express.js';
export type { ExpressRequestLike, ExpressResponseLike } from './adapters/express.js';
export { tenancyHono } from './adapters/hono.js';
export type { HonoContextLike } from './adapters/hono.js';
export { RequestLimiter } from './request-limiter.js';
export type { RequestLimiterOptions, RatePolicy, FailureMode, Granted } from './request-limiter.js';
export { TenantContextCache } from './context-cache.js';
export type { ContextCacheOptions } from './context-cache.js';
export { CredentialResolver } from './credentials.js';
export type { CredentialOptions } from './credentials.js';
export { PollingEventFeed, NatsEventFeed } from './event-feed.js';
export type { EventFeed, PollingFeedOptions, NatsFeedOptions } from './event-feed.js';
export { TenantDatabases, tenantDb, withTenantTransaction, enableTenantRls, quoteIdentifier } from './tenant-db.js';
export type { TenantDb, TenantDatabasesOptions, RlsOptions, Queryable, ClientSource } from './tenant-db.js';
export { tenantLogger } from './tenant-logger.js';
export type { LoggingOptions } from './tenant-logger.js';
export { TenantMetrics, TenantLabeler, OTHER_TENANT, NO_TENANT } from './tenant-metrics.js';
export type { MetricsOptions } from './tenant-metrics.js';
export { auditEvent, AppAuditLogger } from './app-audit.js';
export type { AppAuditEvent, AppAuditRecord } from './app-audit.js';
export { TenancyFlagProvider } from './flag-provider.js';
export type { FlagProviderOptions } from './flag-provider.js';
export { FairScheduler, PLAN_WEIGHTS } from './fair-scheduler.js';
export type { FairSchedulerOptions, TenantShare, ReleaseSlot } from './fair-scheduler.js';
export { FairQueueConsumer } from './fair-consumer.js';
export type {
  FairQueueConsumerOptions,
  FairQueueMessage,
  FairQueueSource,
  TenantQueueBinding,
} from './fair-consumer.js';
export { UsageMeter } from './usage-meter.js';
export type { UsageMeterOptions, UsageMeterStats } from './usage-meter.js';
export { QuotaGuard } from './quota-guard.js';
export type { QuotaGuardOptions, QuotaStatus, QuotaUse, CountedQuota, CostEnforcement } from './quota-guard.js';
export { TenantObjectsClient } from './tenant-objects.js';
export type { TenantObjectsOptions, TenantObjectInfo } from './tenant-objects.js';
export { toProblem, PROBLEM_CONTENT_TYPE } from './problem.js';
export type { ProblemBody, ProblemResponse } from './problem.js';
export { TenancyError } from '../errors.js';
export type {
  TenantContext,
  TenantQuotas,
  TenantPhase,
  Principal,
  ConnectionDescriptor,
  TenancyEvent,
  FlagResolution,
} from './types.js';
export { recordLineage } from './lineage.js';
export type { LineageEntry, RecordLineageOptions } from './lineage.js';
export type { RetrieveRequest, RetrieveResult, RetrievedItem, DroppedItem, Spotlighting } from './retrieval.js';
