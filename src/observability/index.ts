/**
 * Observability: metrics (and, later, SLOs). Logs are pino through Fastify.
 */
export { createMetrics } from './metrics.js';
export type { ControlPlaneMetrics } from './metrics.js';
