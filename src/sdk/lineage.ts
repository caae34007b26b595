/**
 * Recording lineage from an app: which source, query and chunk an answer came from and how
 * far it was trusted. Inside a request the tenant defaults to the current one; records go
 * to the control plane in batches of at most 1,000 (each batch all or nothing).
 */
import { TenancyError } from '../errors.js';
import { currentScope } from './request-context.js';
import type { TenancyClient } from './tenancy-client.js';

/** One lineage record as an app reports it (`timestamp` defaults to when the control plane stores it). */
export interface LineageEntry {
  domain: string;
  usecase: string;
  sourceId: string;
  queryId: string;
  chunkId?: string;
  /** From 0 (untrusted) to 1. */
  trustScore: number;
  agentId?: string;
  policyVersion?: string;
  timestamp?: string | Date;
}

/** Options for {@link recordLineage}. */
export interface RecordLineageOptions {
  /** The tenant; default: the tenant of the request in scope. */
  tenantId?: string;
  /** Records per call (at most 1,000). */
  batchSize?: number;
}

/** Store `entries` for the tenant; resolves with the ids the control plane assigned, in order. */
export async function recordLineage(
  client: TenancyClient,
  entries: readonly LineageEntry[],
  options: RecordLineageOptions = {},
): Promise<string[]> {
  const tenantId = options.tenantId ?? currentScope()?.tenant.id;
  if (!tenantId)
    throw new TenancyError(
      'tenant_required',
      'recordLineage needs a tenant: call it inside a request, or pass tenantId',
    );
  const size = Math.min(Math.max(1, options.batchSize ?? 1_000), 1_000);
  const ids: string[] = [];
  for (let i = 0; i < entries.length; i += size) {
    const records = entries
      .slice(i, i + size)
      .map((e) => ({ ...e, ...(e.timestamp instanceof Date ? { timestamp: e.timestamp.toISOString() } : {}) }));
    const res = await client.request<{ accepted: number; ids: string[] }>(
      'POST',
      `/v1/tenants/${encodeURIComponent(tenantId)}/lineage`,
      { body: { records } },
    );
    ids.push(...res.ids);
  }
  return ids;
}
