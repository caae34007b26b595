/**
 * Outbox events as CloudEvents 1.0 (structured JSON). The outbox keeps the short type
 * its writers use (`tenant.created`); on the wire every type is namespaced
 * (`tenancy.tenant.created`), so existing readers of the table keep working and every
 * event leaving the control plane has one naming scheme.
 */
import { TYPE_NAMESPACE, type StoredEvent } from './types.js';

export { TYPE_NAMESPACE } from './types.js';
/** The subject token (NATS) and key for events that belong to no tenant. */
export const PLATFORM_KEY = '_platform';

/** A CloudEvents 1.0 event in structured JSON form. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  /** The tenant id; absent on platform-wide events. */
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
  /** Extension: the request's correlation id, when there was one. */
  correlationid?: string;
  /** Extension (CloudEvents `sequence`): the outbox position, zero-padded so it sorts as text. */
  sequence: string;
}

/** Media type of a structured CloudEvent. */
export const CLOUDEVENTS_JSON = 'application/cloudevents+json';

/** The published type for a stored type. */
export function cloudEventType(stored: string): string {
  return stored.startsWith(`${TYPE_NAMESPACE}.`) ? stored : `${TYPE_NAMESPACE}.${stored}`;
}

/** Zero-padded `sequence` for an outbox seq. */
export function sequenceOf(seq: number): string {
  return String(seq).padStart(16, '0');
}

/** Build the CloudEvent for a stored event. */
export function toCloudEvent(event: StoredEvent, source: string): CloudEvent {
  return {
    specversion: '1.0',
    id: event.id,
    source,
    type: cloudEventType(event.type),
    ...(event.tenantId !== null ? { subject: event.tenantId } : {}),
    time: event.ts,
    datacontenttype: 'application/json',
    data: event.payload,
    ...(event.correlationId !== null ? { correlationid: event.correlationId } : {}),
    sequence: sequenceOf(event.seq),
  };
}

/**
 * A type filter: `*` (everything), an exact type (`tenancy.tenant.created`), or a prefix
 * glob ending in `.*` (`tenancy.tenant.*` matches every type under `tenancy.tenant.`).
 */
export const TYPE_FILTER_PATTERN = /^(\*|tenancy(\.[a-z][a-z0-9_]*)*\.\*|tenancy(\.[a-z][a-z0-9_]*)+)$/;

/** Whether the published `type` matches `filter` (see {@link TYPE_FILTER_PATTERN}). */
export function typeMatches(filter: string, type: string): boolean {
  if (filter === '*') return true;
  if (filter.endsWith('.*')) return type.startsWith(filter.slice(0, -1));
  return filter === type;
}
