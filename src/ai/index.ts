/**
 * The model router: an OpenAI-compatible gateway per tenant, over the model catalogue
 * (`ModelProvider` documents), with fallbacks, circuit breakers per tenant and model, budgets
 * held in an atomic ledger (PostgreSQL or Redis), sovereignty exclusion and usage metering.
 */
export { ModelCatalogue } from './catalogue.js';
export type { ProviderInfo, ProviderPlanItem, CatalogueSnapshot } from './catalogue.js';
export { modelProviderDocumentSchema, PROVIDER_NAME } from './catalogue-schema.js';
export { ModelRouter } from './model-router.js';
export { upstreamFailure } from './router-errors.js';
export { embed, embedTexts } from './embeddings.js';
export { streamChat, type StreamSink } from './chat-stream.js';
export { chatRequestSchema, embeddingsRequestSchema } from './chat-schema.js';
export { routerSpecSchema } from './router-spec.js';
export { Breakers } from './breakers.js';
export { TenantRoutings } from './tenant-routing.js';
export { RouterMetering, type CallRecord, type CallListener } from './metering.js';
export { BudgetNotices } from './budget-notices.js';
export { SqlBudgetLedger } from './budget-ledger-sql.js';
export { RedisBudgetLedger } from './budget-ledger-redis.js';
export type { BudgetLedger, WindowUsage } from './budget-ledger.js';
export { buildModelRouter, type ModelRouterSetup } from './setup.js';
export { routerStatus, tenantModels, type RouterStatus } from './router-status.js';
