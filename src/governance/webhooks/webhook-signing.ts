/**
 * Standard Webhooks signing: `webhook-signature` is `v1,<base64 HMAC-SHA256 of
 * "<webhook-id>.<webhook-timestamp>.<body>">`, one per active secret, space-separated
 * (both during a rotation's overlap). Secrets are `whsec_<base64 of 32 random bytes>`.
 * Signing goes through the reference `standardwebhooks` library so the bytes signed are
 * exactly those its verifiers check.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A fresh signing secret. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The `webhook-signature` header value for `body`, signed with every secret in `secrets`. */
export function signatureHeader(secrets: readonly string[], messageId: string, timestamp: Date, body: string): string {
  return secrets.map((s) => new Webhook(s).sign(messageId, timestamp, body)).join(' ');
}
