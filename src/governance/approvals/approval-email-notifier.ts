/**
 * The e-mail approval notifier: one plain-text message per notice over SMTP (nodemailer),
 * to the tenant's `governance.approvals.notify.email` recipients and any platform-wide
 * ones. A notice with nobody to send to is a success.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type { ApprovalNotice, ApprovalNotifier } from './approval-notifier.js';

/** Settings of {@link EmailApprovalNotifier}. */
export interface EmailApprovalNotifierOptions {
  /** `smtp://user:pass@host:port` or `smtps://…` (TLS from the start). */
  smtpUrl: string;
  from: string;
  /** Recipients of every notice, whatever the tenant says. */
  alwaysTo?: readonly string[];
  timeoutMs?: number;
}

/** Sends notices by e-mail. */
export class EmailApprovalNotifier implements ApprovalNotifier {
  readonly name = 'email';
  readonly #transport: Transporter;

  constructor(private readonly options: EmailApprovalNotifierOptions) {
    const timeout = options.timeoutMs ?? 10_000;
    this.#transport = nodemailer.createTransport(options.smtpUrl, {
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    } as never);
  }

  async notify(notice: ApprovalNotice): Promise<void> {
    const to = [...new Set([...(notice.recipients.email ?? []), ...(this.options.alwaysTo ?? [])])];
    if (to.length === 0) return;
    const a = notice.approval;
    const verb = notice.event === 'approval.requested' ? 'needs approval' : `was ${a.status}`;
    const lines = [
      `Change ${a.id} for tenant ${a.tenantId} ${verb}.`,
      '',
      `Kind:         ${a.kinds.join(', ')}`,
      `Summary:      ${a.summary}`,
      `Requested by: ${a.requestedBy} at ${a.requestedAt}`,
      ...(a.decidedBy ? [`Decided by:   ${a.decidedBy} at ${a.decidedAt}`] : []),
      ...(a.reason ? [`Reason:       ${a.reason}`] : []),
      '',
      notice.event === 'approval.requested'
        ? `Approve:  POST ${notice.link}/approve\nReject:   POST ${notice.link}/reject`
        : `Details:  ${notice.link}`,
    ];
    await this.#transport.sendMail({
      from: this.options.from,
      to,
      subject: `[tenancy] ${a.tenantId}: ${a.kinds.join(', ')} ${verb} (${a.id})`,
      text: lines.join('\n'),
      headers: { 'X-Tenancy-Approval': a.id, 'X-Tenancy-Notice': notice.id },
    });
  }

  close(): void {
    this.#transport.close();
  }
}
