/**
 * Webhook endpoints as the API shows them: their shapes, the mapping from a `webhooks` row
 * (never with its secret), their id pattern and the 404 for one that is not there.
 */
import type { Selectable } from 'kysely';
import { notFound, type TenancyError } from '../../errors.js';
import type { Schema } from '../../schema.js';

/** A webhook endpoint as the API shows it (never its secret). */
export interface WebhookInfo {
  id: string;
  tenantId: string | null;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  description: string | null;
  /** Why the endpoint was disabled by Tenancy (e.g. the receiver answered 410), if it was. */
  disabledReason: string | null;
  secretRotatedAt: string | null;
  /** Until when the previous secret still signs, after a rotation. */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

/** What creating an endpoint takes. */
export interface NewWebhook {
  tenantId: string | null;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  description: string | null;
}

/** What an update may change. */
export interface WebhookChanges {
  url?: string | undefined;
  eventTypes?: string[] | undefined;
  enabled?: boolean | undefined;
  description?: string | null | undefined;
}

/** An endpoint id from a URL (`wh_` and 24 hex digits). */
export const WEBHOOK_ID_PATTERN = /^wh_[0-9a-f]{24}$/;

/** A stored timestamp as ISO 8601, null kept null. */
export const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/** The 404 for an endpoint that does not exist or is not the caller's. */
export function webhookNotFound(id: string): TenancyError {
  return notFound('webhook_not_found', `webhook ${id} not found`);
}

/** A `webhooks` row as the API shows it; a previous secret whose overlap ended is not shown. */
export function toWebhookInfo(r: Selectable<Schema['webhooks']>): WebhookInfo {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    url: r.url,
    eventTypes: r.event_types,
    enabled: r.enabled,
    description: r.description,
    disabledReason: r.disabled_reason,
    secretRotatedAt: iso(r.secret_rotated_at),
    previousSecretExpiresAt:
      r.previous_secret_expires_at !== null && new Date(r.previous_secret_expires_at) > new Date()
        ? iso(r.previous_secret_expires_at)
        : null,
    createdAt: iso(r.created_at)!,
    createdBy: r.created_by,
    updatedAt: iso(r.updated_at)!,
  };
}
