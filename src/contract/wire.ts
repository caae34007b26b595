/**
 * Shapes both planes put on the wire: what the control plane answers and the SDK reads. The
 * server's modules and the SDK take them from here, so neither copies the other.
 */

/** Where a tenant's database is reached, with its own role (`GET /v1/tenants/{id}/connection`). */
export interface DatabaseConnection {
  engine: 'postgres' | 'pglite';
  /** A PostgreSQL URL with the tenant's role and password; null on the embedded engine (no network endpoint). */
  url: string | null;
  role: string;
  database: string;
  schema: string;
  isolation: string;
}

/** A stored audit record, as the audit log keeps it and the API returns it. */
export interface AuditRecord {
  seq: number;
  id: string;
  ts: string;
  actor: string;
  action: string;
  target: string;
  tenantId: string | null;
  correlationId: string | null;
  outcome: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Quotas an app counts itself or reserves through the control plane. */
export type CountedQuota = 'maxUsers' | 'maxProjects';

/** One quota's state (`GET /v1/tenants/{id}/quotas`). */
export interface QuotaStatus<Quota extends string = string> {
  quota: Quota;
  limit: number;
  /** Current use; null where the control plane cannot know it (concurrency is per app instance). */
  current: number | null;
  unit: string;
  exceeded: boolean;
  /** Where it is enforced. */
  enforcedBy: 'sdk' | 'control-plane';
  /** When the use starts again from zero (hourly and monthly quotas). */
  resetsAt: string | null;
}

/** A counted quota's use after a reservation, a release or a set. */
export interface QuotaUse {
  quota: string;
  limit: number;
  current: number;
}
