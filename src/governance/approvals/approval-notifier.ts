/**
 * The port approvals are announced through, and the worker that drives it. A notifier
 * tells people (a chat bridge, a ticket system, a mailbox) that an approval was
 * requested or decided; implementations sit beside this file (`approval-webhook-notifier.ts`,
 * `approval-email-notifier.ts`).
 *
 * Announcements are durable: an approval row records the status the notifiers were last
 * told about, so a crash or a failing receiver only delays them (retried with backoff, at
 * least once; the message id `<approval id>.<status>` lets receivers drop duplicates).
 */
import type { ApprovalGate } from './approval-gate.js';
import type { Approval } from './approval-model.js';

/** One announcement. */
export interface ApprovalNotice {
  /** Stable per approval and status: receivers deduplicate on it. */
  id: string;
  event: 'approval.requested' | 'approval.approved' | 'approval.rejected' | 'approval.stale';
  approval: Approval;
  /** Per-tenant recipients from the tenant's governance settings. */
  recipients: { email?: string[] };
  /** Where the approver acts (`/v1/approvals/<id>`), absolute when the public URL is known. */
  link: string;
}

/** Tells people about approvals; throw to have the notice retried. */
export interface ApprovalNotifier {
  readonly name: string;
  notify(notice: ApprovalNotice): Promise<void>;
}

/** Worker settings. */
export interface ApprovalAnnouncerOptions {
  /** Base URL the links in notices start with (e.g. the control plane's public URL). */
  baseUrl?: string;
  pollIntervalMs?: number;
  /** Waits before retry n; after the last the notice is given up (recorded in `notify_error`). */
  retryScheduleMs?: readonly number[];
  onError?: (error: unknown, approvalId?: string) => void;
}

const DEFAULT_RETRIES = [5_000, 30_000, 120_000, 600_000, 1_800_000];

/** Sends notices for approvals whose status the notifiers have not been told about. */
export class ApprovalAnnouncer {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #again = false;

  constructor(
    private readonly gate: ApprovalGate,
    private readonly notifiers: readonly ApprovalNotifier[],
    private readonly options: ApprovalAnnouncerOptions = {},
  ) {}

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Look for work now (after a request or a decision commits). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  /** One pass; resolves when every claimed notice was sent or rescheduled. Returns how many were handled. */
  async runOnce(): Promise<number> {
    const claimed = await this.gate.claimUnannounced(50, 60_000);
    for (const a of claimed) {
      const notice: ApprovalNotice = {
        id: `${a.id}.${a.status}`,
        event: `approval.${a.status === 'pending' ? 'requested' : a.status}` as ApprovalNotice['event'],
        approval: stripNotify(a),
        recipients: a.notify,
        link: `${(this.options.baseUrl ?? '').replace(/\/$/, '')}/v1/approvals/${a.id}`,
      };
      const failures: string[] = [];
      for (const n of this.notifiers) {
        try {
          await n.notify(notice);
        } catch (error) {
          failures.push(`${n.name}: ${(error as Error).message}`.slice(0, 500));
          this.options.onError?.(error, a.id);
        }
      }
      const attempts = a.attempts + 1;
      const schedule = this.options.retryScheduleMs ?? DEFAULT_RETRIES;
      if (failures.length === 0) await this.gate.markAnnounced(a.id, a.status, { attempts });
      else if (attempts > schedule.length)
        await this.gate.markAnnounced(a.id, a.status, {
          attempts,
          error: `gave up after ${attempts} attempts: ${failures.join('; ')}`,
        });
      else
        await this.gate.markAnnounced(a.id, a.status, {
          attempts,
          error: failures.join('; '),
          retryAt: new Date(Date.now() + schedule[attempts - 1]!),
        });
    }
    return claimed.length;
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.runOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.options.onError?.(error))
        .finally(() => {
          this.#running = undefined;
          if (this.#stopped) return;
          const again = this.#again;
          this.#again = false;
          this.#schedule(again ? 0 : (this.options.pollIntervalMs ?? 1_000));
        });
    }, ms);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}

function stripNotify(a: Approval & { notify: unknown; attempts: number }): Approval {
  const { notify: _n, attempts: _a, ...rest } = a;
  return rest;
}
