/**
 * The audit log's record types: what an append records, a stored record, the result of a
 * verify pass, and how checkpoints are anchored.
 */
import type { AuditRecord } from '../contract/index.js';
import type { AnchorStore } from './audit-anchors.js';
import type { Actor, OutboxEvent } from './types.js';

/** What an append records. */
export interface AuditEntry {
  action: string;
  target: string;
  tenantId: string | null;
  outcome: 'success' | 'denied' | 'failure';
  details?: Record<string, unknown>;
}

/** A change as {@link AuditLog.recordChange} records it. */
export interface Change extends AuditEntry {
  actor: Actor;
  /** The event the change publishes; its tenant is the record's unless given. */
  event?: Omit<OutboxEvent, 'tenantId'> & { tenantId?: string | null };
}

/** A stored audit record (the wire contract's shape). */
export type { AuditRecord };

/** The anchors one store held when the chain was verified against them. */
export interface AnchorCheck {
  where: string;
  count: number;
  newestSeq: number | null;
}

/** Result of a verify pass; `anchors` lists the stores outside the database it compared the chain with. */
export type AuditVerification =
  | {
      ok: true;
      records: number;
      head: { seq: number; hash: string } | null;
      checkpoints: number;
      keyedFrom: number | null;
      anchors: AnchorCheck[];
    }
  | { ok: false; records: number; seq: number; reason: string; anchors: AnchorCheck[] };

/** How and where {@link AuditLog.startAnchoring} anchors checkpoints. */
export interface AnchoringOptions {
  stores: AnchorStore[];
  /** Anchor at least this often while records are being appended; 0 = only every {@link everyRecords} and at close (default 2,000 ms). */
  intervalMs?: number;
  /** Anchor as soon as this many records were appended since the last anchor (default {@link CHECKPOINT_INTERVAL}). */
  everyRecords?: number;
  /** Least time between two anchors, so a burst of appends costs few object writes (default 200 ms). */
  minSpacingMs?: number;
  /** A failed anchor (store unreachable, chain not extending the last anchor); it is retried. */
  onError?: (error: unknown) => void;
}
