/**
 * Shapes the control plane serves to the data plane. They are declared here rather than
 * imported from the server modules, so the SDK pulls in no server code.
 */
import type { PoolClient, QueryResultRow } from 'pg';

import type { AuditRecord, DatabaseConnection, TenantPhase } from '../contract/index.js';

/** Lifecycle phases of a tenant (the contract's). */
export type { TenantPhase };

/** Effective quotas: plan defaults overridden by the manifest. */
export interface TenantQuotas {
  maxUsers: number;
  maxProjects: number;
  maxRequestsPerHour: number;
  maxConcurrentRequests: number;
  storageLimitBytes: number;
  maxCostPerMonthUsd: number;
  computeLimitMillicores: number;
  networkBandwidthMbps: number;
}

/** `GET /v1/tenants/{id}/context`. */
export interface TenantContext {
  id: string;
  uid: string;
  name: string;
  plan: string;
  profile: string;
  region: string;
  phase: TenantPhase;
  environments: string[];
  labels: Record<string, string>;
  quotas: TenantQuotas;
  /** Plain values of the tenant's flags (rollouts already placed). */
  features: Record<string, boolean | string>;
  /** Each flag with its value and OpenFeature reason (absent from control planes before flags had reasons). */
  flags?: Record<string, FlagResolution>;
  generation: number;
}

/** One resolved flag of the tenant context. */
export interface FlagResolution {
  /** Absent when nothing gives the flag a value (the caller's default applies). */
  value?: boolean | string;
  reason: 'STATIC' | 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT';
  variant: string;
  source: 'plan' | 'manifest' | 'document';
}

/** Who is calling the app: `GET /v1/principal` for an API key, or the claims of a verified JWT. */
export interface Principal {
  keyId: string;
  role: string;
  /** The tenant a tenant credential is bound to; null for a platform credential. */
  tenantId: string | null;
  via: 'api_key' | 'jwt';
}

/** `GET /v1/tenants/{id}/connection`: where the tenant's runtime finds its resources. */
export interface ConnectionDescriptor {
  tenantId: string;
  region: string;
  strategy: string;
  database: DatabaseConnection;
  objects: Record<string, unknown>;
  queue: Record<string, unknown>;
}

/** One CloudEvent as `GET /v1/events` and NATS deliver it. */
export interface TenancyEvent {
  id: string;
  type: string;
  subject?: string;
  time: string;
  data: unknown;
  sequence: string;
}

/** An app event. */
export interface AppAuditEvent {
  /** Dot-separated lowercase words (`invoice.paid`); stored as `app.<action>`. */
  action: string;
  /** What it was done to (`invoice/inv-42`). */
  target: string;
  outcome?: 'success' | 'denied' | 'failure';
  /** Up to 8 KiB of JSON. */
  details?: Record<string, unknown>;
  /** Who did it in the app (default: the caller's key id). */
  subject?: string;
}

/** The stored record, as the control plane returns it (an app event always has its tenant). */
export type AppAuditRecord = AuditRecord & { tenantId: string };

/** A handle on one tenant's database. */
export interface TenantDb {
  readonly tenantId: string;
  /** One statement in its own transaction (with `app.tenant_id` set). */
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
  /** Several statements in one transaction (with `app.tenant_id` set). */
  transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T>;
}
