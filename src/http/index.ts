/**
 * HTTP: the v1 API server, its error mapping and its OpenAPI description.
 */
export { buildServer, DEFAULT_BODY_LIMIT_BYTES, APPLY_BODY_LIMIT_BYTES } from './server.js';
export type { HttpDeps } from './context.js';
export { buildOpenApi } from './openapi/index.js';
