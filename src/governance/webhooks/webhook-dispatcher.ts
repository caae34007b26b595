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
 * 410 Gone disables the endpoint, and after the last step the delivery is `dead`.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import { Agent, fetch } from 'undici';
import { TenancyError } from '../../errors.js';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import { CLOUDEVENTS_JSON, typeMatches } from '../../ledger/cloud-event.js';
import type { PublishedHook } from '../../ledger/event-relay.js';
import type { ReceiverGuard } from './webhook-receiver-guard.js';
import { signatureHeader } from './webhook-signing.js';
import { newDeliveryId, type WebhookStore } from './webhook-store.js';

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

type DeliveryRow = Selectable<Schema['webhook_deliveries']>;
type Outcome =
  | { ok: true; statusCode: number }
  | {
      ok: false;
      statusCode: number | null;
      error: string;
      retryAfterMs?: number | undefined;
      gone?: boolean;
      permanent?: boolean;
    };

const ACTOR: Actor = { id: 'system:webhooks', correlationId: null };
/** Extra lease beyond the timeout: a claimed row whose worker died becomes due again after this. */
const CLAIM_MARGIN_MS = 30_000;

/** Parse `Retry-After` (delta-seconds or an HTTP date) into milliseconds from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Fans events out to endpoints and delivers them. */
export class WebhookDispatcher {
  readonly #inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  readonly #agent: Agent;
  readonly #jitter: number;
  readonly #maxRetryAfterMs: number;
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
    private readonly receivers: ReceiverGuard,
    private readonly options: WebhookDispatcherOptions,
  ) {
    this.#jitter = options.jitter ?? 0.1;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 24 * 3_600_000;
    this.#concurrency = Math.max(1, options.concurrency ?? 8);
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    // The guard's lookup runs for every new connection, so the address checked is the one connected to.
    this.#agent = new Agent({
      connect: { lookup: receivers.lookup, timeout: options.timeoutMs },
      keepAliveTimeout: 10_000,
    });
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

  async #claim(limit: number): Promise<Array<DeliveryRow & { claim_token: string }>> {
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

  #launch(row: DeliveryRow & { claim_token: string }): void {
    const abort = new AbortController();
    const done = this.#deliver(row, abort.signal)
      .catch((error) => this.options.onError?.(error))
      .finally(() => {
        this.#inFlight.delete(row.id);
        this.wake();
      });
    this.#inFlight.set(row.id, { abort, done });
  }

  async #deliver(row: DeliveryRow & { claim_token: string }, stopping: AbortSignal): Promise<void> {
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
      outcome = await this.#send(hook.url, row, secrets, started, stopping);
      if (stopping.aborted) return this.#release(row);
    }
    await this.#record(row, started, Math.round(performance.now() - t0), outcome!);
  }

  async #send(
    url: string,
    row: DeliveryRow,
    secrets: string[],
    started: Date,
    stopping: AbortSignal,
  ): Promise<Outcome> {
    // The attempt's own timer, held until the attempt ends: a signal from AbortSignal.timeout
    // inside AbortSignal.any can be collected before it fires (Node 20), and then an attempt
    // waited as long as the receiver took.
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new DOMException(`timed out after ${this.options.timeoutMs} ms`, 'TimeoutError')),
      this.options.timeoutMs,
    );
    try {
      // An address literal connects without a lookup, so check it here; names are checked at connect time.
      const literal = this.receivers.literal(this.receivers.parse(url));
      const refused = literal === undefined ? undefined : this.receivers.refusal(literal);
      if (refused !== undefined) return { ok: false, statusCode: null, error: `webhook_url_forbidden: ${refused}` };
      const response = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        dispatcher: this.#agent,
        signal: AbortSignal.any([stopping, timeout.signal]),
        headers: {
          'content-type': `${CLOUDEVENTS_JSON}; charset=utf-8`,
          'user-agent': this.options.userAgent ?? 'Tenancy-Webhooks',
          'webhook-id': row.event_id,
          'webhook-timestamp': String(Math.floor(started.getTime() / 1000)),
          'webhook-signature': signatureHeader(secrets, row.event_id, started, row.body),
        },
        body: row.body,
      });
      await response.body?.cancel().catch(() => undefined);
      const status = response.status;
      if (status >= 200 && status < 300) return { ok: true, statusCode: status };
      const wait = retryAfterMs(response.headers.get('retry-after'));
      if (status === 410)
        return {
          ok: false,
          statusCode: status,
          error: 'the receiver answered 410 Gone; the endpoint was disabled',
          gone: true,
        };
      if (status >= 300 && status < 400)
        return {
          ok: false,
          statusCode: status,
          error: `redirects are not followed (Location: ${(response.headers.get('location') ?? '').slice(0, 200)})`,
          retryAfterMs: wait,
        };
      return { ok: false, statusCode: status, error: `the receiver answered ${status}`, retryAfterMs: wait };
    } catch (error) {
      return { ok: false, statusCode: null, error: describe(error, this.options.timeoutMs) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Hand a claimed row back as due now, without counting an attempt. */
  async #release(row: DeliveryRow & { claim_token: string }): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ claim_token: null, next_attempt_at: sql<string>`now()` })
      .where('id', '=', row.id)
      .where('claim_token', '=', row.claim_token)
      .execute();
  }

  async #record(
    row: DeliveryRow & { claim_token: string },
    started: Date,
    durationMs: number,
    outcome: Outcome,
  ): Promise<void> {
    const attempt = row.attempts + 1;
    let status: DeliveryRow['status'];
    let next: Date | null = null;
    if (outcome.ok) status = 'succeeded';
    else if (outcome.gone || outcome.permanent) status = 'failed';
    else if (attempt > this.options.retryScheduleMs.length) status = 'dead';
    else {
      status = 'pending';
      const base = this.options.retryScheduleMs[attempt - 1]!;
      let wait = base * (1 - this.#jitter + 2 * this.#jitter * Math.random());
      if (outcome.retryAfterMs !== undefined)
        wait = Math.max(wait, Math.min(outcome.retryAfterMs, this.#maxRetryAfterMs));
      next = new Date(Date.now() + wait);
    }
    await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set({
          status,
          attempts: attempt,
          next_attempt_at: next?.toISOString() ?? null,
          claim_token: null,
          last_status_code: outcome.statusCode,
          last_error: outcome.ok ? null : outcome.error.slice(0, 1000),
          updated_at: new Date().toISOString(),
        })
        .where('id', '=', row.id)
        .where('claim_token', '=', row.claim_token)
        .returning('id')
        .executeTakeFirst();
      // Deleted meanwhile, or reclaimed after our lease ran out: the other claim records its own attempt.
      if (!updated) return;
      await trx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: row.id,
          attempt,
          started_at: started.toISOString(),
          duration_ms: durationMs,
          status_code: outcome.statusCode,
          error: outcome.ok ? null : outcome.error.slice(0, 1000),
          outcome: outcome.ok ? 'succeeded' : 'failed',
          next_retry_at: next?.toISOString() ?? null,
        })
        .execute();
      if (!outcome.ok && outcome.gone) {
        const hook = await trx
          .updateTable('webhooks')
          .set({
            enabled: false,
            disabled_reason: 'the receiver answered 410 Gone',
            updated_at: new Date().toISOString(),
          })
          .where('id', '=', row.webhook_id)
          .where('enabled', '=', true)
          .returning(['id', 'tenant_id', 'url'])
          .executeTakeFirst();
        if (hook) {
          await this.audit.recordChange(trx, {
            actor: ACTOR,
            action: 'webhook.disable',
            target: `webhook/${hook.id}`,
            tenantId: hook.tenant_id,
            outcome: 'success',
            details: { reason: 'gone', deliveryId: row.id },
            event: { type: 'webhook.disabled', tenantId: hook.tenant_id, payload: { id: hook.id, reason: 'gone' } },
          });
        }
      }
    });
  }
}

function describe(error: unknown, timeoutMs: number): string {
  const e = error as Error & { cause?: unknown };
  if (e.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  const cause = e.cause as (Error & { code?: string }) | undefined;
  if (cause instanceof TenancyError) return `${cause.code}: ${cause.detail}`;
  if (cause?.code) return `${cause.code}: ${cause.message}`;
  return cause?.message ?? e.message;
}
