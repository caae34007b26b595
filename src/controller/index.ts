/**
 * Controller: the reconcile loop that moves tenants from desired to observed state.
 */
export { TenantController } from './tenant-controller.js';
export type { ControllerOptions } from './tenant-controller.js';
