/**
 * Verification of a live deployment: the isolation self-test attacks two throw-away
 * tenants from each other over the API and the database and reports every probe. It drives
 * the deployment through its own API (the caller passes the way in) and the tenants'
 * connection descriptors, so it checks what a tenant would meet, not what the code intends.
 */
export { verifyIsolation } from './isolation-self-test.js';
export type { ApiRequest, ApiResponse, IsolationReport, Probe, SelfTestDeps } from './self-test-types.js';
