/**
 * The embedded queue engine's tables: streams, their messages, durable consumers and the
 * deliveries leased to them. Row types as Kysely sees them; the engine needs no other table.
 * A leaf: it imports column helper types only.
 */
import type { ColumnType } from 'kysely';
import type { Json, Timestamp } from '../sql/column-types.js';

/** `queue_streams`: streams and the subjects each captures. */
export interface QueueStreamsTable {
  name: string;
  subjects: Json<string[]>;
  created_at: Timestamp;
}

/** `queue_messages`: a stream's messages, numbered per stream. */
export interface QueueMessagesTable {
  stream: string;
  seq: ColumnType<string | number, number, never>;
  subject: string;
  data: Buffer;
  published_at: Timestamp;
}

/** `queue_consumers`: durable consumers of a stream, with their subject filter. */
export interface QueueConsumersTable {
  stream: string;
  name: string;
  filter_subject: string;
  paused: ColumnType<boolean, boolean | undefined, boolean>;
}

/** `queue_deliveries`: a message's lease and acknowledgement for one consumer. */
export interface QueueDeliveriesTable {
  stream: string;
  consumer: string;
  seq: ColumnType<string | number, number, never>;
  acked: boolean;
  lease_until: Timestamp;
  delivery_count: number;
}

/** The tables the embedded queue engine owns. */
export interface QueueTables {
  queue_streams: QueueStreamsTable;
  queue_messages: QueueMessagesTable;
  queue_consumers: QueueConsumersTable;
  queue_deliveries: QueueDeliveriesTable;
}
