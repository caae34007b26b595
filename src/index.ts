/**
 * Tenancy as a library: start a control plane in-process, or use its modules directly.
 */
export { startControlPlane } from './control-plane.js';
export type { ControlPlane, StartOptions } from './control-plane.js';
export { loadConfig } from './config.js';
export type { Config } from './config.js';
export { TenancyError } from './errors.js';
export { VERSION } from './version.js';
