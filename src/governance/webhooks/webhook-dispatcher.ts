/**
 * Webhook delivery. Fan-out runs in the relay's marking transaction: each published event
 * becomes one `pending` delivery row per matching enabled endpoint (a tenant's endpoint
 * matches only that tenant's events), so nothing is lost on a crash or restart.
 *
 * The worker claims due rows (`for update skip locked`, so replicas never send the same
 * row at once; one request in flight per endpoint, oldest event first), marks them with
 * a claim token and a lease, and sends them outside any
 * transaction: Standard Webhooks headers, redirects not followed (3xx is a failure), a
 * per-attempt timeout, and the receiver's address checked at connect time. Each attempt
 * is logged; a failure is retried on the schedule (with jitter, at least `Retry-After`),
 * 410 Gone disables the endpoint, and after the last step the delivery is `dead`. The
 * attempt itself (request and record) is in `webhook-attempt.ts`; this file schedules.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { Agent } from 'undici';
import type { Schema } from '../../schema.js';
import type { AuditLog } from '../../ledger/audit-log.js';
import { typeMatches } from '../../ledger/cloud-event.js';
import type { PublishedHook } from '../../ledger/event-relay.js';
import {
  recordAttempt,
  sendAttempt,
  type ClaimedRow,
  type DeliveryRow,
  type Outcome,
  type RetrySettings,
  type SendSettings,
} from './webhook-attempt.js';
import { newDeliveryId } from './webhook-deliveries.js';
import type { ReceiverGuard } from './webhook-receiver-guard.js';
import type { WebhookStore } from './webhook-store.js';

/** Dispatcher settings. */
export interface WebhookDispatcherOptions {
  /** Per-attempt timeout. */
  timeoutMs: number;
  /** Wait before retry n (after the n-th failure); after the last, the delivery is dead. */
  retryScheduleMs: readonly number[];
  /** Random spread applied to each wait, as a fraction (0.1 = ±10%). */
  jitter?: number;
  /** Longest `Retry-After` honoured. */
  maxRetryAfterMs?: number;
  concurrency?: number;
  pollIntervalMs?: number;
  userAgent?: string;
  onError?: (error: unknown) => void;
}

/** Extra lease beyond the timeout: a claimed row whose worker died becomes due again after this. */
const CLAIM_MARGIN_MS = 30_000;

/** Fans events out to endpoints and delivers them. */
export class WebhookDispatcher {
  readonly #inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  readonly #agent: Agent;
  readonly #send: SendSettings;
  readonly #retry: RetrySettings;
  readonly #concurrency: number;
  readonly #pollIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #again = false;
  #stopped = true;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly store: WebhookStore,
    private readonly audit: AuditLog,
    receivers: ReceiverGuard,
    private readonly options: WebhookDispatcherOptions,
  ) {
    this.#concurrency = Math.max(1, options.concurrency ?? 8);
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    // The guard's lookup runs for every new connection, so the address checked is the one connected to.
    this.#agent = new Agent({
      connect: { lookup: receivers.lookup, timeout: options.timeoutMs },
      keepAliveTimeout: 10_000,
    });
    this.#send = { agent: this.#agent, receivers, timeoutMs: options.timeoutMs, userAgent: options.userAgent };
    this.#retry = {
      retryScheduleMs: options.retryScheduleMs,
      jitter: options.jitter ?? 0.1,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 24 * 3_600_000,
    };
  }

  /** The relay hook: one pending delivery per matching enabled endpoint, in the marking transaction. */
  readonly enqueue: PublishedHook = async (trx, published) => {
    const hooks = await trx
      .selectFrom('webhooks')
      .select(['id', 'tenant_id', 'event_types'])
      .where('enabled', '=', true)
      .execute();
    if (hooks.length === 0) return;
    const now = new Date().toISOString();
    const rows = [];
    for (const p of published) {
      for (const h of hooks) {
        // Tenant isolation: a tenant's endpoint gets its own tenant's events and nothing else.
        if (h.tenant_id !== null && h.tenant_id !== p.event.tenantId) continue;
        if (!h.event_types.some((f) => typeMatches(f, p.cloudEvent.type))) continue;
        rows.push({
          id: newDeliveryId(),
          webhook_id: h.id,
          tenant_id: p.event.tenantId,
          event_id: p.event.id,
          event_seq: p.event.seq,
          event_type: p.cloudEvent.type,
          body: p.body,
          status: 'pending' as const,
          attempts: 0,
          next_attempt_at: now,
          claim_token: null,
          last_status_code: null,
          last_error: null,
          created_at: now,
          updated_at: now,
        });
      }
    }
    for (let i = 0; i < rows.length; i += 500) {
      await trx
        .insertInto('webhook_deliveries')
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing())
        .execute();
    }
  };

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.wake();
  }

  /** Look for due deliveries now (after new ones were committed). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), 0);
    this.#timer.unref();
  }

  /** Stop: in-flight attempts are aborted and their rows handed back as due, uncounted. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const f of this.#inFlight.values()) f.abort.abort(new Error('stopping'));
    await Promise.allSettled([...this.#inFlight.values()].map((f) => f.done));
    await this.#agent.close().catch(() => undefined);
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    this.#ticking = true;
    try {
      const free = this.#concurrency - this.#inFlight.size;
      if (free > 0) {
        const claimed = await this.#claim(free);
        for (const row of claimed) this.#launch(row);
      }
    } catch (error) {
      this.options.onError?.(error);
    } finally {
      this.#ticking = false;
    }
    if (this.#stopped) return;
    const again = this.#again;
    this.#again = false;
    this.#timer = setTimeout(() => void this.#tick(), again ? 0 : this.#pollIntervalMs);
    this.#timer.unref();
  }

  async #claim(limit: number): Promise<ClaimedRow[]> {
    const token = randomUUID();
    const leaseMs = this.options.timeoutMs + CLAIM_MARGIN_MS;
    // One request in flight per endpoint, its oldest due event first: a healthy receiver gets
    // events in order. A delivery waiting to retry does not hold the ones after it back.
    const { rows } = await sql<DeliveryRow>`
      update webhook_deliveries set claim_token = ${token}, next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
      where id in (
        select id from webhook_deliveries
        where status = 'pending' and next_attempt_at <= now() and id in (
          select id from (
            select distinct on (d.webhook_id) d.id, d.next_attempt_at
            from webhook_deliveries d join webhooks w on w.id = d.webhook_id
            where d.status = 'pending' and d.next_attempt_at <= now() and w.enabled
              and not exists (
                select 1 from webhook_deliveries c
                where c.webhook_id = d.webhook_id and c.status = 'pending' and c.claim_token is not null and c.next_attempt_at > now())
            order by d.webhook_id, d.event_seq) firsts
          order by next_attempt_at
          limit ${limit})
        for update skip locked)
      returning *`.execute(this.db);
    return rows.map((r) => ({ ...r, claim_token: token })).sort((a, b) => Number(a.event_seq) - Number(b.event_seq));
  }

  #launch(row: ClaimedRow): void {
    const abort = new AbortController();
    const done = this.#deliver(row, abort.signal)
      .catch((error) => this.options.onError?.(error))
      .finally(() => {
        this.#inFlight.delete(row.id);
        this.wake();
      });
    this.#inFlight.set(row.id, { abort, done });
  }

  async #deliver(row: ClaimedRow, stopping: AbortSignal): Promise<void> {
    const hook = await this.db.selectFrom('webhooks').selectAll().where('id', '=', row.webhook_id).executeTakeFirst();
    if (!hook?.enabled) return this.#release(row);
    const started = new Date();
    const t0 = performance.now();
    let outcome: Outcome;
    let secrets: string[] | undefined;
    try {
      secrets = await this.store.signingSecrets(hook, started);
    } catch (error) {
      // The tenant's keys were destroyed (or the secret altered): no delivery can ever be signed.
      outcome = {
        ok: false,
        statusCode: null,
        error: `the signing secret cannot be decrypted: ${(error as Error).message}`,
        permanent: true,
      };
    }
    if (secrets !== undefined) {
      outcome = await sendAttempt(this.#send, hook.url, row, secrets, started, stopping);
      if (stopping.aborted) return this.#release(row);
    }
    await recordAttempt(this.db, this.audit, this.#retry, row, started, Math.round(performance.now() - t0), outcome!);
  }

  /** Hand a claimed row back as due now, without counting an attempt. */
  async #release(row: ClaimedRow): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ claim_token: null, next_attempt_at: sql<string>`now()` })
      .where('id', '=', row.id)
      .where('claim_token', '=', row.claim_token)
      .execute();
  }
}
