/**
 * One delivery attempt: the signed HTTP request (Standard Webhooks headers, redirects not
 * followed, a per-attempt timeout, an address literal checked before connecting) and its
 * record: the attempt logged, the next step chosen on the retry schedule (with jitter, at
 * least `Retry-After`), and a 410 Gone disabling the endpoint, audited with its event.
 */
import type { Kysely, Selectable } from 'kysely';
import { type Agent, fetch } from 'undici';
import { TenancyError } from '../../errors.js';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import { CLOUDEVENTS_JSON } from '../../ledger/cloud-event.js';
import type { ReceiverGuard } from './webhook-receiver-guard.js';
import { signatureHeader } from './webhook-signing.js';

/** A `webhook_deliveries` row. */
export type DeliveryRow = Selectable<Schema['webhook_deliveries']>;

/** A delivery row this worker claimed, with the token that proves it still holds it. */
export type ClaimedRow = DeliveryRow & { claim_token: string };

/** How an attempt ended. */
export type Outcome =
  | { ok: true; statusCode: number }
  | {
      ok: false;
      statusCode: number | null;
      error: string;
      retryAfterMs?: number | undefined;
      gone?: boolean;
      permanent?: boolean;
    };

/** What sending needs: the connection pool, the receiver guard and the request settings. */
export interface SendSettings {
  agent: Agent;
  receivers: ReceiverGuard;
  timeoutMs: number;
  userAgent: string | undefined;
}

/** The retry schedule an attempt's record follows. */
export interface RetrySettings {
  /** Wait before retry n (after the n-th failure); after the last, the delivery is dead. */
  retryScheduleMs: readonly number[];
  /** Random spread applied to each wait, as a fraction. */
  jitter: number;
  /** Longest `Retry-After` honoured. */
  maxRetryAfterMs: number;
}

const ACTOR: Actor = { id: 'system:webhooks', correlationId: null };

/** Parse `Retry-After` (delta-seconds or an HTTP date) into milliseconds from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Send one delivery, signed with `secrets`; never throws, every failure is an outcome. */
export async function sendAttempt(
  settings: SendSettings,
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
    () => timeout.abort(new DOMException(`timed out after ${settings.timeoutMs} ms`, 'TimeoutError')),
    settings.timeoutMs,
  );
  try {
    // An address literal connects without a lookup, so check it here; names are checked at connect time.
    const literal = settings.receivers.literal(settings.receivers.parse(url));
    const refused = literal === undefined ? undefined : settings.receivers.refusal(literal);
    if (refused !== undefined) return { ok: false, statusCode: null, error: `webhook_url_forbidden: ${refused}` };
    const response = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      dispatcher: settings.agent,
      signal: AbortSignal.any([stopping, timeout.signal]),
      headers: {
        'content-type': `${CLOUDEVENTS_JSON}; charset=utf-8`,
        'user-agent': settings.userAgent ?? 'Tenancy-Webhooks',
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
    return { ok: false, statusCode: null, error: describe(error, settings.timeoutMs) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Record an attempt of a claimed row: its new status and next attempt, the attempt in the
 * log, and on 410 Gone the endpoint disabled. Nothing is written when the claim was lost.
 */
export async function recordAttempt(
  db: Kysely<Schema>,
  audit: AuditLog,
  retry: RetrySettings,
  row: ClaimedRow,
  started: Date,
  durationMs: number,
  outcome: Outcome,
): Promise<void> {
  const attempt = row.attempts + 1;
  let status: DeliveryRow['status'];
  let next: Date | null = null;
  if (outcome.ok) status = 'succeeded';
  else if (outcome.gone || outcome.permanent) status = 'failed';
  else if (attempt > retry.retryScheduleMs.length) status = 'dead';
  else {
    status = 'pending';
    const base = retry.retryScheduleMs[attempt - 1]!;
    let wait = base * (1 - retry.jitter + 2 * retry.jitter * Math.random());
    if (outcome.retryAfterMs !== undefined)
      wait = Math.max(wait, Math.min(outcome.retryAfterMs, retry.maxRetryAfterMs));
    next = new Date(Date.now() + wait);
  }
  await db.transaction().execute(async (trx) => {
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
        await audit.recordChange(trx, {
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

function describe(error: unknown, timeoutMs: number): string {
  const e = error as Error & { cause?: unknown };
  if (e.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  const cause = e.cause as (Error & { code?: string }) | undefined;
  if (cause instanceof TenancyError) return `${cause.code}: ${cause.detail}`;
  if (cause?.code) return `${cause.code}: ${cause.message}`;
  return cause?.message ?? e.message;
}
