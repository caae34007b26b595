/**
 * The controller's table: long operations (jobs) with their progress.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { Json, Timestamp } from '../infra/sql/column-types.js';

/** `jobs`: long operations (migration runs, archive, restore) with progress. */
export interface JobsTable {
  id: string;
  kind: string;
  tenant_id: string | null;
  state: string;
  progress_done: number;
  progress_total: number;
  attempts: number;
  last_error: string | null;
  params: Json<Record<string, unknown>>;
  result: Json<Record<string, unknown>> | null;
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: Timestamp | null;
}

/** The tables the controller owns. */
export interface ControllerTables {
  jobs: JobsTable;
}
