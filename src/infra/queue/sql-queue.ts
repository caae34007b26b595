/**
 * The embedded queue engine, persisted in the control-plane database so nothing is lost
 * on restart. A fetch leases messages to a durable consumer (30 s by default); an ack
 * ends the lease for good, a nak or an expired lease makes the message deliverable again.
 */
import { sql, type Kysely } from 'kysely';
import { TenancyError } from '../../errors.js';
import { json } from '../sql/index.js';
import type { QueueTables } from './tables.js';
import { subjectMatches, validateName, validateSubject, type JobQueue, type QueueMessage } from './job-queue.js';

/** A NATS-style subject filter as an anchored POSIX regular expression. */
export function filterRegex(pattern: string): string {
  return `^${pattern
    .split('.')
    .map((t) => (t === '*' ? '[^.]+' : t === '>' ? '.+' : t))
    .join('\\.')}$`;
}

/**
 * Queue on the control-plane store (PGlite or PostgreSQL). `DB` is the store's whole schema,
 * whatever other tables it has: the queue reads and writes only its own.
 */
export class SqlJobQueue<DB extends QueueTables = QueueTables> implements JobQueue {
  readonly engine = 'sql' as const;
  private readonly db: Kysely<QueueTables>;

  constructor(
    db: Kysely<DB>,
    private readonly ackWaitMs = 30_000,
  ) {
    // Kysely is invariant in its schema; a store with more tables than the queue's still serves it.
    this.db = db as unknown as Kysely<QueueTables>;
  }

  async ensureStream(name: string, subjects: string[]): Promise<void> {
    validateName(name, 'stream');
    for (const s of subjects) validateSubject(s, true);
    const others = await this.db
      .selectFrom('queue_streams')
      .select(['name', 'subjects'])
      .where('name', '<>', name)
      .execute();
    for (const o of others) {
      for (const s of subjects) {
        for (const t of o.subjects as string[]) {
          if (s === t || subjectMatches(s, t.replace(/[*>]/g, 'x')) || subjectMatches(t, s.replace(/[*>]/g, 'x'))) {
            throw new TenancyError(
              'subjects_overlap',
              `stream ${name} would capture subject ${s}, which stream ${o.name} already captures`,
            );
          }
        }
      }
    }
    await this.db
      .insertInto('queue_streams')
      .values({ name, subjects: json(subjects), created_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('name').doUpdateSet({ subjects: json(subjects) }))
      .execute();
  }

  async streamExists(name: string): Promise<boolean> {
    validateName(name, 'stream');
    return (
      (await this.db.selectFrom('queue_streams').select('name').where('name', '=', name).executeTakeFirst()) !==
      undefined
    );
  }

  async removeStream(name: string): Promise<void> {
    validateName(name, 'stream');
    await this.db.deleteFrom('queue_streams').where('name', '=', name).execute();
  }

  async publish(subject: string, data: Buffer): Promise<{ stream: string; seq: number }> {
    validateSubject(subject, false);
    const streams = await this.db.selectFrom('queue_streams').select(['name', 'subjects']).execute();
    const stream = streams.find((s) => (s.subjects as string[]).some((p) => subjectMatches(p, subject)));
    if (!stream) throw new TenancyError('no_stream_for_subject', `no stream captures subject ${subject}`);
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(7480004, hashtext(${stream.name}))`.execute(trx);
      const last = await trx
        .selectFrom('queue_messages')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('stream', '=', stream.name)
        .executeTakeFirst();
      const seq = Number(last?.seq ?? 0) + 1;
      await trx
        .insertInto('queue_messages')
        .values({ stream: stream.name, seq, subject, data, published_at: new Date().toISOString() })
        .execute();
      return { stream: stream.name, seq };
    });
  }

  async ensureConsumer(stream: string, name: string, filterSubject: string): Promise<void> {
    validateName(stream, 'stream');
    validateName(name, 'consumer');
    validateSubject(filterSubject, true);
    if (!(await this.streamExists(stream)))
      throw new TenancyError('stream_not_found', `stream ${stream} does not exist`);
    await this.db
      .insertInto('queue_consumers')
      .values({ stream, name, filter_subject: filterSubject })
      .onConflict((oc) => oc.columns(['stream', 'name']).doUpdateSet({ filter_subject: filterSubject }))
      .execute();
  }

  async removeConsumer(stream: string, name: string): Promise<void> {
    await this.db
      .deleteFrom('queue_consumers')
      .where('stream', '=', validateName(stream, 'stream'))
      .where('name', '=', validateName(name, 'consumer'))
      .execute();
  }

  async setConsumerPaused(stream: string, name: string, paused: boolean): Promise<void> {
    await this.db
      .updateTable('queue_consumers')
      .set({ paused })
      .where('stream', '=', validateName(stream, 'stream'))
      .where('name', '=', validateName(name, 'consumer'))
      .execute();
  }

  async consumerPaused(stream: string, name: string): Promise<boolean> {
    const c = await this.db
      .selectFrom('queue_consumers')
      .select('paused')
      .where('stream', '=', validateName(stream, 'stream'))
      .where('name', '=', validateName(name, 'consumer'))
      .executeTakeFirst();
    return c?.paused ?? false;
  }

  async fetch(stream: string, consumer: string, max: number): Promise<QueueMessage[]> {
    validateName(stream, 'stream');
    validateName(consumer, 'consumer');
    const c = await this.db
      .selectFrom('queue_consumers')
      .select(['filter_subject', 'paused'])
      .where('stream', '=', stream)
      .where('name', '=', consumer)
      .executeTakeFirst();
    if (!c) throw new TenancyError('consumer_not_found', `consumer ${consumer} of stream ${stream} does not exist`);
    if (c.paused) return [];
    const rows = await this.db.transaction().execute(async (trx) => {
      const due = await sql<{
        seq: string | number;
        subject: string;
        data: Buffer | Uint8Array;
        delivery_count: number | null;
      }>`
        select m.seq, m.subject, m.data, d.delivery_count
        from queue_messages m
        left join queue_deliveries d on d.stream = m.stream and d.consumer = ${consumer} and d.seq = m.seq
        where m.stream = ${stream} and m.subject ~ ${filterRegex(c.filter_subject)}
          and (d.seq is null or (not d.acked and d.lease_until <= now()))
        order by m.seq
        limit ${Math.max(1, Math.min(max, 1000))}
        for update of m skip locked`.execute(trx);
      for (const r of due.rows) {
        await trx
          .insertInto('queue_deliveries')
          .values({
            stream,
            consumer,
            seq: Number(r.seq),
            acked: false,
            lease_until: new Date(Date.now() + this.ackWaitMs).toISOString(),
            delivery_count: 1,
          })
          .onConflict((oc) =>
            oc.columns(['stream', 'consumer', 'seq']).doUpdateSet((eb) => ({
              lease_until: new Date(Date.now() + this.ackWaitMs).toISOString(),
              delivery_count: eb('queue_deliveries.delivery_count', '+', 1),
            })),
          )
          .execute();
      }
      return due.rows;
    });
    return rows.map((r) => {
      const seq = Number(r.seq);
      return {
        stream,
        seq,
        subject: r.subject,
        data: Buffer.from(r.data),
        deliveryCount: (r.delivery_count ?? 0) + 1,
        ack: async () => {
          await this.db
            .updateTable('queue_deliveries')
            .set({ acked: true })
            .where('stream', '=', stream)
            .where('consumer', '=', consumer)
            .where('seq', '=', seq as never)
            .execute();
        },
        nak: async (delayMs = 0) => {
          await this.db
            .updateTable('queue_deliveries')
            .set({ lease_until: new Date(Date.now() + delayMs).toISOString() })
            .where('stream', '=', stream)
            .where('consumer', '=', consumer)
            .where('seq', '=', seq as never)
            .where('acked', '=', false)
            .execute();
        },
      };
    });
  }

  async close(): Promise<void> {}
}
