/**
 * The ledger's shared vocabulary: who made a change, and the event it publishes. Kept apart
 * from the audit log and the outbox so that neither needs the other's module for its types.
 */

/** Who did something, and under which correlation id. */
export interface Actor {
  /** `apikey:<id>`, `system:controller`, `anonymous`… */
  id: string;
  correlationId: string | null;
}

/** An event as written to the outbox. */
export interface OutboxEvent {
  type: string;
  tenantId: string | null;
  payload: Record<string, unknown>;
}

/** A stored event. */
export interface StoredEvent extends OutboxEvent {
  seq: number;
  id: string;
  ts: string;
  correlationId: string | null;
}

/** The namespace of every published event type. */
export const TYPE_NAMESPACE = 'tenancy';
