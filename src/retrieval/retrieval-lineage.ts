/**
 * Lineage of retrievals: every chunk an answer hands out becomes a lineage record (query id,
 * chunk, source, trust score, policy version) in the lineage store, so the drift map's
 * average trust comes from real retrievals. Records are buffered off the request path and
 * written per tenant in batches (one transaction, audit record and event per batch), at
 * most a second late; `flush` writes what is buffered (at shutdown).
 */
import type { LineageInput, LineageStore } from '../governance/lineage/lineage-store.js';
import type { Actor } from '../ledger/index.js';

const ACTOR: Actor = { id: 'system:retrieval', correlationId: null };
/** Most records buffered per tenant; beyond it the oldest wait for the next flush are dropped and counted. */
const MAX_BUFFERED = 50_000;

/** One retrieval to record. */
export interface RetrievalLineageEntry {
  queryId: string;
  corpus: string;
  domain: string;
  usecase: string;
  policyVersion: string;
  agentId?: string | undefined;
  items: ReadonlyArray<{ chunkId: string; documentId: string; trustScore: number }>;
}

/** Buffers and writes retrieval lineage. */
export class RetrievalLineage {
  readonly #pending = new Map<string, LineageInput[]>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  /** Records dropped because a tenant's buffer was full (the store could not keep up). */
  dropped = 0;

  constructor(
    private readonly store: LineageStore,
    private readonly options: { intervalMs?: number; onError?: (error: unknown) => void } = {},
  ) {}

  /** Buffer the records of one retrieval. */
  add(tenantId: string, entry: RetrievalLineageEntry): void {
    if (entry.items.length === 0) return;
    const list = this.#pending.get(tenantId) ?? [];
    const timestamp = new Date().toISOString();
    for (const item of entry.items) {
      if (list.length >= MAX_BUFFERED) {
        this.dropped += 1;
        continue;
      }
      list.push({
        domain: entry.domain,
        usecase: entry.usecase,
        sourceId: `${entry.corpus}/${item.documentId}`.slice(0, 256),
        queryId: entry.queryId,
        chunkId: `${entry.corpus}/${item.chunkId}`.slice(0, 256),
        trustScore: item.trustScore,
        ...(entry.agentId ? { agentId: entry.agentId.slice(0, 256) } : {}),
        policyVersion: entry.policyVersion,
        timestamp,
      });
    }
    this.#pending.set(tenantId, list);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.options.intervalMs ?? 1_000);
    this.#timer.unref?.();
  }

  /** Write everything buffered now. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const batches = [...this.#pending.entries()];
      this.#pending.clear();
      for (const [tenantId, records] of batches) {
        for (let i = 0; i < records.length; i += 1_000) {
          try {
            await this.store.record(ACTOR, tenantId, records.slice(i, i + 1_000));
          } catch (error) {
            this.options.onError?.(error);
          }
        }
      }
    });
    return this.#flushing;
  }

  /** Stop the timer and write what is left. */
  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
