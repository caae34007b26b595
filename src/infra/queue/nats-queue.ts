/**
 * The NATS JetStream queue engine (`TENANCY_NATS_URL`): streams and durable pull
 * consumers with explicit acknowledgement, through the maintained `@nats-io` clients.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { TenancyError } from '../../errors.js';
import { validateName, validateSubject, type JobQueue, type QueueMessage } from './job-queue.js';

function isNotFound(error: unknown): boolean {
  const e = error as { code?: string | number; api_error?: { err_code?: number; code?: number }; message?: string };
  return e.api_error?.code === 404 || e.code === '404' || e.code === 404 || /not found/i.test(e.message ?? '');
}

/** The KV bucket holding which consumers are paused (JetStream consumer pause needs a newer server than 2.9). */
const PAUSED_BUCKET = 'tenancy_queue_paused';

/** JetStream-backed queue. */
export class NatsJobQueue implements JobQueue {
  readonly engine = 'nats' as const;
  #paused: Promise<KV> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly ackWaitMs: number,
  ) {}

  /** Connect; an unreachable server is a clear error. */
  static async connect(url: string, ackWaitMs = 30_000): Promise<NatsJobQueue> {
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: url.replace(/^nats:\/\//, ''), timeout: 5_000, maxReconnectAttempts: 10 });
    } catch (cause) {
      throw new TenancyError('queue_unavailable', `cannot connect to NATS at ${url}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const jsm = await jetstreamManager(nc);
    return new NatsJobQueue(nc, jsm, jetstream(nc), ackWaitMs);
  }

  async ensureStream(name: string, subjects: string[]): Promise<void> {
    validateName(name, 'stream');
    for (const s of subjects) validateSubject(s, true);
    try {
      const info = await this.jsm.streams.info(name);
      await this.jsm.streams.update(name, { ...info.config, subjects });
    } catch (error) {
      if (!isNotFound(error)) throw wrap('ensure stream', error);
      try {
        await this.jsm.streams.add({ name, subjects });
      } catch (e) {
        throw wrap('ensure stream', e);
      }
    }
  }

  async streamExists(name: string): Promise<boolean> {
    validateName(name, 'stream');
    try {
      await this.jsm.streams.info(name);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw wrap('stream info', error);
    }
  }

  async removeStream(name: string): Promise<void> {
    validateName(name, 'stream');
    try {
      await this.jsm.streams.delete(name);
    } catch (error) {
      if (!isNotFound(error)) throw wrap('remove stream', error);
    }
  }

  async publish(subject: string, data: Buffer): Promise<{ stream: string; seq: number }> {
    validateSubject(subject, false);
    try {
      const ack = await this.js.publish(subject, data);
      return { stream: ack.stream, seq: ack.seq };
    } catch (error) {
      // With no stream capturing the subject nobody answers, which the client reports as
      // "no responders" or "JetStream not enabled"; ask the server which it is.
      const captured = await this.jsm.streams.find(subject).then(
        () => true,
        () => false,
      );
      if (!captured)
        throw new TenancyError('no_stream_for_subject', `no stream captures subject ${subject}`, { cause: error });
      throw wrap('publish', error);
    }
  }

  async ensureConsumer(stream: string, name: string, filterSubject: string): Promise<void> {
    validateName(stream, 'stream');
    validateName(name, 'consumer');
    validateSubject(filterSubject, true);
    if (!(await this.streamExists(stream)))
      throw new TenancyError('stream_not_found', `stream ${stream} does not exist`);
    try {
      await this.jsm.consumers.add(stream, {
        durable_name: name,
        filter_subject: filterSubject,
        ack_policy: AckPolicy.Explicit,
        ack_wait: this.ackWaitMs * 1_000_000,
      });
    } catch (error) {
      throw wrap('ensure consumer', error);
    }
  }

  async removeConsumer(stream: string, name: string): Promise<void> {
    try {
      await this.jsm.consumers.delete(validateName(stream, 'stream'), validateName(name, 'consumer'));
    } catch (error) {
      if (!isNotFound(error)) throw wrap('remove consumer', error);
    }
  }

  #pausedBucket(): Promise<KV> {
    this.#paused ??= new Kvm(this.js).create(PAUSED_BUCKET, { history: 1 }).catch((error) => {
      this.#paused = undefined;
      throw wrap('paused consumers', error);
    });
    return this.#paused;
  }

  async setConsumerPaused(stream: string, name: string, paused: boolean): Promise<void> {
    const key = `${validateName(stream, 'stream')}.${validateName(name, 'consumer')}`;
    const kv = await this.#pausedBucket();
    if (paused) await kv.put(key, '1');
    else await kv.delete(key);
  }

  async consumerPaused(stream: string, name: string): Promise<boolean> {
    const entry = await (await this.#pausedBucket()).get(
      `${validateName(stream, 'stream')}.${validateName(name, 'consumer')}`,
    );
    return entry?.operation === 'PUT';
  }

  async fetch(stream: string, consumer: string, max: number, expiresMs = 1_000): Promise<QueueMessage[]> {
    validateName(stream, 'stream');
    validateName(consumer, 'consumer');
    if (await this.consumerPaused(stream, consumer)) return [];
    let c;
    try {
      c = await this.js.consumers.get(stream, consumer);
    } catch (error) {
      if (isNotFound(error))
        throw new TenancyError('consumer_not_found', `consumer ${consumer} of stream ${stream} does not exist`);
      throw wrap('fetch', error);
    }
    const out: QueueMessage[] = [];
    const messages = await c.fetch({
      max_messages: Math.max(1, Math.min(max, 1000)),
      expires: Math.max(1_000, expiresMs),
    });
    for await (const m of messages) {
      out.push({
        stream,
        seq: m.seq,
        subject: m.subject,
        data: Buffer.from(m.data),
        deliveryCount: m.info.deliveryCount,
        ack: async () => {
          await m.ackAck();
        },
        nak: async (delayMs = 0) => {
          m.nak(delayMs);
        },
      });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}

function wrap(operation: string, error: unknown): TenancyError {
  if (error instanceof TenancyError) return error;
  return new TenancyError('queue_unavailable', `NATS ${operation} failed: ${(error as Error).message}`, {
    cause: error,
  });
}
