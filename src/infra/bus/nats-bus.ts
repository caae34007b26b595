/**
 * The NATS JetStream bus (`TENANCY_NATS_URL`): one stream captures `<prefix>.>`; each
 * message carries `Nats-Msg-Id` (JetStream drops a repeat within its duplicate window, so
 * the relay's at-least-once becomes once on the stream) and its content type.
 */
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { TenancyError } from '../../errors.js';
import type { BusHandler, BusMessage, EventBus } from './event-bus.js';

/** Where events go on NATS. */
export interface NatsBusOptions {
  stream: string;
  /** Subjects the stream captures: `<subjectPrefix>.>`. */
  subjectPrefix: string;
  /** How long JetStream remembers message ids for deduplication. */
  duplicateWindowMs?: number;
}

/** JetStream-backed bus. */
export class NatsEventBus implements EventBus {
  readonly engine = 'nats' as const;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    readonly stream: string,
  ) {}

  /** Connect and make sure the stream exists; an unreachable server is a clear error. */
  static async connect(url: string, options: NatsBusOptions): Promise<NatsEventBus> {
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: url.replace(/^nats:\/\//, ''), timeout: 5_000, maxReconnectAttempts: -1 });
    } catch (cause) {
      throw new TenancyError('bus_unavailable', `cannot connect to NATS at ${url}: ${(cause as Error).message}`, {
        cause,
      });
    }
    try {
      const jsm = await jetstreamManager(nc);
      const subjects = [`${options.subjectPrefix}.>`];
      const duplicate_window = (options.duplicateWindowMs ?? 120_000) * 1_000_000;
      try {
        const info = await jsm.streams.info(options.stream);
        await jsm.streams.update(options.stream, { ...info.config, subjects, duplicate_window });
      } catch (error) {
        if (!/not found/i.test((error as Error).message)) throw error;
        await jsm.streams.add({ name: options.stream, subjects, duplicate_window });
      }
      return new NatsEventBus(nc, jsm, jetstream(nc), options.stream);
    } catch (cause) {
      await nc.close().catch(() => undefined);
      throw new TenancyError(
        'bus_unavailable',
        `cannot prepare the NATS stream ${options.stream}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  async publish(message: BusMessage): Promise<void> {
    const h = headers();
    h.set('Content-Type', message.contentType);
    await this.js.publish(message.subject, message.data, { msgID: message.id, headers: h });
  }

  async subscribe(filter: string, handler: BusHandler): Promise<() => Promise<void>> {
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    const done = (async () => {
      for await (const m of messages) {
        try {
          await handler({
            subject: m.subject,
            id: m.headers?.get('Nats-Msg-Id') ?? String(m.seq),
            data: Buffer.from(m.data),
            contentType: m.headers?.get('Content-Type') ?? 'application/octet-stream',
          });
        } catch {
          // An ordered consumer has no redelivery; a subscriber that must not miss a message uses a durable consumer on the stream.
        }
      }
    })();
    return async () => {
      await messages.close();
      await done;
    };
  }

  /** The JetStream manager, for operators' tooling and tests that inspect the stream. */
  get manager(): JetStreamManager {
    return this.jsm;
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}
