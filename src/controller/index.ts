/**
 * Controller: the reconcile loop that moves tenants from desired to observed state. A work
 * queue feeds it; a reconcile runs its phase's ordered, idempotent steps (steps/), each
 * writing its own condition; jobs and migration runs are the long operations it follows.
 */
export { TenantController } from './tenant-controller.js';
export type { ControllerOptions } from './tenant-controller.js';
export { JobStore } from './jobs.js';
export type { Job, JobState } from './jobs.js';
export { MigrationRuns, MIGRATE_JOB } from './migration-runs.js';
export type { MigrationRunParams, TenantRunStatus } from './migration-runs.js';
export { watchRegistryEvents } from './registry-watch.js';
