/**
 * The generic approval notifier: a Standard Webhooks signed POST of the notice as JSON to
 * one URL, so Slack, Jira or e-mail bridges plug in without code here. It signs with the
 * same code as event webhooks and connects only to addresses the receiver guard allows
 * (checked at connect time, so DNS rebinding is refused too); redirects are not followed.
 */
import { Agent, fetch } from 'undici';
import type { ApprovalNotice, ApprovalNotifier } from './approval-notifier.js';
import type { ReceiverGuard } from '../webhooks/webhook-receiver-guard.js';
import { signatureHeader } from '../webhooks/webhook-signing.js';

/** Settings of {@link WebhookApprovalNotifier}. */
export interface WebhookApprovalNotifierOptions {
  url: string;
  /** `whsec_<base64>` Standard Webhooks secret. */
  secret: string;
  timeoutMs: number;
  userAgent?: string;
}

/** Posts notices to one signed webhook. */
export class WebhookApprovalNotifier implements ApprovalNotifier {
  readonly name = 'webhook';
  readonly #agent: Agent;

  constructor(
    private readonly receivers: ReceiverGuard,
    private readonly options: WebhookApprovalNotifierOptions,
  ) {
    receivers.parse(options.url);
    this.#agent = new Agent({ connect: { lookup: receivers.lookup, timeout: options.timeoutMs } });
  }

  async notify(notice: ApprovalNotice): Promise<void> {
    const url = this.receivers.parse(this.options.url);
    const literal = this.receivers.literal(url);
    const refused = literal === undefined ? undefined : this.receivers.refusal(literal);
    if (refused !== undefined) throw new Error(`webhook_url_forbidden: ${refused}`);
    const body = JSON.stringify({
      type: `tenancy.${notice.event}`,
      id: notice.id,
      link: notice.link,
      approval: notice.approval,
    });
    const now = new Date();
    const response = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      dispatcher: this.#agent,
      signal: AbortSignal.timeout(this.options.timeoutMs),
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': this.options.userAgent ?? 'Tenancy-Approvals',
        'webhook-id': notice.id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': signatureHeader([this.options.secret], notice.id, now, body),
      },
      body,
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.status < 200 || response.status >= 300) throw new Error(`the receiver answered ${response.status}`);
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
