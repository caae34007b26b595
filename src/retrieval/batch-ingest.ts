/**
 * Batch ingest as a job: `POST /v1/tenants/{id}/corpora/{corpus}/batches` with up to 1,000
 * documents. Every document is checked before the job exists (a bad one refuses the whole
 * batch with its path, `/documents/3/text`, and nothing is ingested); the batch is kept in
 * the tenant's own object place while it runs, so a control plane that stops resumes it on
 * start (ingest is idempotent, so documents done before the stop are `unchanged`). Progress
 * and the outcome per document are on the job (`GET /v1/jobs/{id}`).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Job, JobStore } from '../controller/jobs.js';
import { TenancyError, validationError } from '../errors.js';
import type { TenantObjects } from '../isolation/index.js';
import type { Actor } from '../ledger/index.js';
import { documentSchema, type DocumentInput } from './corpus-schema.js';
import { readDocument } from './chunk-embeddings.js';
import type { RetrievalStore } from './retrieval-store.js';

export const BATCH_JOB = 'corpus-ingest';
export const MAX_BATCH_DOCUMENTS = 1_000;

export const batchSchema = z
  .strictObject({
    documents: z
      .array(documentSchema)
      .min(1, 'needs at least one document')
      .max(MAX_BATCH_DOCUMENTS, `at most ${MAX_BATCH_DOCUMENTS} documents per batch`)
      .superRefine((docs, ctx) => {
        const seen = new Set<string>();
        docs.forEach((d, i) => {
          if (seen.has(d.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: 'appears twice in the batch' });
          seen.add(d.id);
        });
      }),
  })
  .meta({ id: 'CorpusBatch', description: 'Documents to ingest as one job.' });

const batchKey = (corpus: string, jobId: string) => `.tenancy-corpora/${corpus}/.batches/${jobId}.json`;

/** What a batch job did with one document that did not go in. */
interface BatchFailure {
  index: number;
  id: string;
  code: string;
  detail: string;
}

/** Runs batch ingest jobs. */
export class BatchIngest {
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(
    private readonly store: RetrievalStore,
    private readonly jobs: JobStore,
    private readonly objects: () => TenantObjects,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Check every document, keep the batch, create the job and start it. */
  async start(actor: Actor, tenantId: string, corpus: string, documents: DocumentInput[]): Promise<Job> {
    await this.store.getCorpus(tenantId, corpus);
    for (const [i, d] of documents.entries()) {
      try {
        readDocument(d);
      } catch (error) {
        if (error instanceof TenancyError)
          throw validationError(
            `document ${i} (${d.id}) cannot be read: ${error.detail}`,
            (error.errors ?? [{ path: '', message: error.detail }]).map((e) => ({
              path: `/documents/${i}${e.path}`,
              message: e.message,
            })),
            error.code === 'payload_too_large' ? 'payload_too_large' : 'invalid_document',
          );
        throw error;
      }
    }
    const job = await this.jobs.create({
      kind: BATCH_JOB,
      tenantId,
      params: {
        corpus,
        documents: documents.length,
        sha256: createHash('sha256').update(JSON.stringify(documents)).digest('hex'),
      },
      total: documents.length,
      createdBy: actor.id,
    });
    try {
      await this.objects().putOwn(
        actor,
        tenantId,
        batchKey(corpus, job.id),
        Buffer.from(JSON.stringify({ actor, documents })),
        'application/json',
      );
    } catch (error) {
      await this.jobs.finish(job.id, { state: 'failed', error: (error as Error).message });
      throw error;
    }
    this.#launch(job);
    return job;
  }

  /** Pick up batches a stopped control plane left unfinished. */
  async resume(): Promise<void> {
    for (const job of await this.jobs.unfinished(BATCH_JOB)) this.#launch(job);
  }

  /** Wait for running batches (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size) await Promise.allSettled([...this.#running]);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.idle();
  }

  #launch(job: Job): void {
    const p = this.#run(job)
      .catch(async (error) => {
        this.onError(error);
        await this.jobs.finish(job.id, { state: 'failed', error: (error as Error).message }).catch(() => undefined);
      })
      .finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  async #run(job: Job): Promise<void> {
    const tenantId = job.tenantId!;
    const corpus = job.params.corpus as string;
    const key = batchKey(corpus, job.id);
    const stored = await this.objects().getOwn(tenantId, key);
    if (!stored) throw new Error('the batch is gone from the tenant place (purged or archived)');
    const { actor, documents } = JSON.parse(stored.body.toString('utf8')) as {
      actor: Actor;
      documents: DocumentInput[];
    };
    await this.jobs.start(job.id, documents.length);
    const counts = { indexed: 0, quarantined: 0, created: 0, updated: 0, unchanged: 0, failed: 0 };
    const failures: BatchFailure[] = [];
    let lastReport = Date.now();
    for (const [index, doc] of documents.entries()) {
      if (this.#stopped) return; // resumed on the next start
      try {
        const r = await this.store.ingest(actor, tenantId, corpus, doc);
        counts[r.status] += 1;
        counts[r.action === 'create' ? 'created' : r.action === 'update' ? 'updated' : 'unchanged'] += 1;
      } catch (error) {
        counts.failed += 1;
        const e = error instanceof TenancyError ? error : undefined;
        if (failures.length < 100)
          failures.push({
            index,
            id: doc.id,
            code: e?.code ?? 'internal_error',
            detail: e?.detail ?? 'the document could not be ingested',
          });
        if (!e) this.onError(error);
        // A tenant that stopped being active fails the rest of the batch the same way: stop here.
        if (e && /^tenant_/.test(e.code)) throw error;
      }
      if (Date.now() - lastReport > 500 || index === documents.length - 1) {
        lastReport = Date.now();
        await this.jobs.progress(job.id, index + 1, documents.length, { ...counts, failures });
      }
    }
    await this.objects()
      .deleteOwn(actor, tenantId, key)
      .catch((error) => this.onError(error));
    await this.jobs.finish(job.id, {
      state: counts.failed === documents.length ? 'failed' : 'succeeded',
      result: { corpus, ...counts, failures },
      ...(counts.failed > 0 ? { error: `${counts.failed} of ${documents.length} documents failed` } : {}),
    });
  }
}
