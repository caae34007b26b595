/**
 * The queue port: streams that capture subjects, durable consumers filtered by subject,
 * and explicit acknowledgement (work-queue semantics). Engines: one persisted in the
 * control-plane database (embedded default, nothing lost on restart) and NATS JetStream
 * (`TENANCY_NATS_URL`). Stream, consumer and subject names are validated here.
 */
import { validationError } from '../../errors.js';

/** A delivered message; it is redelivered later unless acknowledged. */
export interface QueueMessage {
  stream: string;
  seq: number;
  subject: string;
  data: Buffer;
  deliveryCount: number;
  ack(): Promise<void>;
  /** Give the message back for redelivery after `delayMs`. */
  nak(delayMs?: number): Promise<void>;
}

/** Streams and durable consumers. */
export interface JobQueue {
  readonly engine: 'sql' | 'nats';
  ensureStream(name: string, subjects: string[]): Promise<void>;
  streamExists(name: string): Promise<boolean>;
  /** Remove a stream with its messages and consumers; a missing one is success. */
  removeStream(name: string): Promise<void>;
  publish(subject: string, data: Buffer): Promise<{ stream: string; seq: number }>;
  ensureConsumer(stream: string, name: string, filterSubject: string): Promise<void>;
  removeConsumer(stream: string, name: string): Promise<void>;
  /**
   * Pause a consumer (it delivers nothing; its messages stay queued) or let it deliver
   * again. A missing consumer is a no-op.
   */
  setConsumerPaused(stream: string, name: string, paused: boolean): Promise<void>;
  consumerPaused(stream: string, name: string): Promise<boolean>;
  /** Up to `max` messages not yet acknowledged, oldest first; none while the consumer is paused. */
  fetch(stream: string, consumer: string, max: number, expiresMs?: number): Promise<QueueMessage[]>;
  close(): Promise<void>;
}

/** Stream and consumer names: letters, digits, "-" and "_". */
export function validateName(name: string, what: 'stream' | 'consumer'): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw validationError(
      `"${name.slice(0, 70)}" is not a valid ${what} name`,
      [{ path: `/${what}`, message: 'must be 1..64 letters, digits, "-" or "_"' }],
      `invalid_${what}_name`,
    );
  }
  return name;
}

/** Subjects are dot-separated tokens; filters may use "*" (one token) and a final ">" (the rest). */
export function validateSubject(subject: string, wildcards: boolean): string {
  const tokens = subject.split('.');
  const ok =
    subject.length > 0 &&
    subject.length <= 256 &&
    tokens.every(
      (t, i) => (wildcards && (t === '*' || (t === '>' && i === tokens.length - 1))) || /^[A-Za-z0-9_-]+$/.test(t),
    );
  if (!ok) {
    throw validationError(
      `"${subject.slice(0, 70)}" is not a valid subject`,
      [
        {
          path: '/subject',
          message: wildcards
            ? 'dot-separated tokens of letters, digits, "-", "_", or "*" and a final ">"'
            : 'dot-separated tokens of letters, digits, "-" or "_"',
        },
      ],
      'invalid_subject',
    );
  }
  return subject;
}

/** Whether `subject` matches the filter `pattern` (NATS rules). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
