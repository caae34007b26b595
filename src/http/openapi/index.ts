/**
 * The OpenAPI 3.1 description, generated from the same zod schemas that validate requests (one file
 * of operations per API area, the shared component schemas), and a self-contained HTML page that lists it.
 */
export { buildOpenApi } from './build-openapi.js';
export { docsPage } from './docs-page.js';
