/**
 * The approval notifiers an installation's configuration asks for: a signed webhook when a
 * URL and secret are set, mail when an SMTP URL is set; none otherwise.
 */
import type { ReceiverGuard } from '../webhooks/webhook-receiver-guard.js';
import { EmailApprovalNotifier } from './approval-email-notifier.js';
import type { ApprovalNotifier } from './approval-notifier.js';
import { WebhookApprovalNotifier } from './approval-webhook-notifier.js';

/** The settings the notifiers are built from. */
export interface ApprovalNotifierSettings {
  webhookUrl?: string | undefined;
  webhookSecret?: string | undefined;
  webhookTimeoutMs: number;
  smtpUrl?: string | undefined;
  from: string;
  alwaysTo?: readonly string[] | undefined;
  /** `User-Agent` of the webhook notices. */
  userAgent: string;
}

/** The configured notifiers (webhook, then mail), possibly none. */
export function approvalNotifiersFrom(
  settings: ApprovalNotifierSettings,
  receivers: ReceiverGuard,
): ApprovalNotifier[] {
  const notifiers: ApprovalNotifier[] = [];
  if (settings.webhookUrl && settings.webhookSecret) {
    notifiers.push(
      new WebhookApprovalNotifier(receivers, {
        url: settings.webhookUrl,
        secret: settings.webhookSecret,
        timeoutMs: settings.webhookTimeoutMs,
        userAgent: settings.userAgent,
      }),
    );
  }
  if (settings.smtpUrl) {
    notifiers.push(
      new EmailApprovalNotifier({
        smtpUrl: settings.smtpUrl,
        from: settings.from,
        ...(settings.alwaysTo ? { alwaysTo: settings.alwaysTo } : {}),
      }),
    );
  }
  return notifiers;
}
