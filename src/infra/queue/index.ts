/**
 * Queue port: streams and durable consumers, persisted in the control-plane database
 * (default) or on NATS JetStream, picked from configuration in {@link connectJobQueue}.
 */
import type { Kysely } from 'kysely';
import type { QueueTables } from './tables.js';
import type { JobQueue } from './job-queue.js';
import { NatsJobQueue } from './nats-queue.js';
import { SqlJobQueue } from './sql-queue.js';

export { SqlJobQueue, filterRegex } from './sql-queue.js';
export { NatsJobQueue } from './nats-queue.js';
export { subjectMatches, validateName, validateSubject } from './job-queue.js';
export type { JobQueue, QueueMessage } from './job-queue.js';
export type { QueueTables } from './tables.js';

/** NATS JetStream when `natsUrl` is set, else the store-backed engine. */
export async function connectJobQueue<DB extends QueueTables>(options: {
  natsUrl?: string | undefined;
  db: Kysely<DB>;
}): Promise<JobQueue> {
  return options.natsUrl ? NatsJobQueue.connect(options.natsUrl) : new SqlJobQueue(options.db);
}
