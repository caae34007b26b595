/**
 * Retrieval as the control plane builds it: the store with its lineage writer, answer cache
 * (memory, Redis or off), tenants' object places and embedder; releases registered with the
 * approval gate; batch ingest.
 */
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { JobStore } from '../controller/jobs.js';
import type { ApprovalGate, LineageStore } from '../governance/index.js';
import type { TenantObjects, Warehouse } from '../isolation/index.js';
import type { AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { TenantRegistry } from '../tenants/index.js';
import { BatchIngest } from './batch-ingest.js';
import type { Embedder } from './chunk-embeddings.js';
import { registerRetrievalReleases } from './releases.js';
import { MemoryRetrievalCache, RedisRetrievalCache, type RetrievalCache } from './retrieval-cache.js';
import { RetrievalLineage } from './retrieval-lineage.js';
import { RetrievalStore } from './retrieval-store.js';

/** What retrieval is built from. */
export interface RetrievalSetup {
  db: Kysely<Schema>;
  audit: AuditLog;
  registry: TenantRegistry;
  lineage: LineageStore;
  approvals: ApprovalGate;
  jobs: JobStore;
  config: Pick<Config, 'retrievalCache' | 'redisUrl' | 'retrievalCacheTtlMs'>;
  warehouse: () => Warehouse;
  objects: () => TenantObjects;
  embedder: Embedder;
  log: (error: unknown, what: string) => void;
}

/** Build retrieval; close `retrievalLineage` and `retrievalCache` at shutdown. */
export async function buildRetrieval(setup: RetrievalSetup): Promise<{
  retrieval: RetrievalStore;
  batches: BatchIngest;
  retrievalLineage: RetrievalLineage;
  retrievalCache: RetrievalCache | undefined;
}> {
  const { config } = setup;
  const retrievalLineage = new RetrievalLineage(setup.lineage, {
    onError: (error) => setup.log(error, 'retrieval lineage write'),
  });
  const retrievalCache =
    config.retrievalCache === 'off'
      ? undefined
      : config.retrievalCache === 'redis'
        ? await RedisRetrievalCache.connect(config.redisUrl!, { ttlMs: config.retrievalCacheTtlMs })
        : new MemoryRetrievalCache({ ttlMs: config.retrievalCacheTtlMs });
  const retrieval = new RetrievalStore(setup.db, setup.audit, setup.registry, setup.warehouse, {
    lineage: retrievalLineage,
    objects: setup.objects,
    ...(retrievalCache ? { cache: retrievalCache } : {}),
    embedder: setup.embedder,
  });
  registerRetrievalReleases(setup.approvals, retrieval, setup.audit);
  const batches = new BatchIngest(retrieval, setup.jobs, setup.objects, (error) => setup.log(error, 'batch ingest'));
  return { retrieval, batches, retrievalLineage, retrievalCache };
}
