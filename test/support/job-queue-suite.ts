/**
 * The behaviour every queue engine must have; run for the store-backed engine (PGlite and
 * PostgreSQL) and for NATS JetStream.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobQueue } from '../../src/infra/queue/index.js';

export function runJobQueueSuite(
  name: string,
  factory: () => Promise<{ queue: JobQueue; stop: () => Promise<void> }>,
): void {
  describe(`job queue: ${name}`, () => {
    let queue: JobQueue;
    let stop: () => Promise<void>;
    const tag = randomBytes(3).toString('hex');
    const shared = `jobs_${tag}`;
    const dedicated = `jobs-acme-${tag}`;

    beforeAll(async () => {
      ({ queue, stop } = await factory());
    });
    afterAll(async () => {
      await queue?.removeStream(shared).catch(() => undefined);
      await queue?.removeStream(dedicated).catch(() => undefined);
      await stop?.();
    });

    it('creates streams idempotently and routes subjects to them', async () => {
      await queue.ensureStream(shared, [`jobs${tag}.*`]);
      await queue.ensureStream(shared, [`jobs${tag}.*`]);
      await queue.ensureStream(dedicated, [`jobs${tag}-acme.>`]);
      expect(await queue.streamExists(shared)).toBe(true);
      const a = await queue.publish(`jobs${tag}.tenant-a`, Buffer.from('a1'));
      const b = await queue.publish(`jobs${tag}.tenant-b`, Buffer.from('b1'));
      expect(a.stream).toBe(shared);
      expect(b.seq).toBe(a.seq + 1);
      expect((await queue.publish(`jobs${tag}-acme.export.csv`, Buffer.from('d1'))).stream).toBe(dedicated);
      await expect(queue.publish(`nowhere${tag}.x`, Buffer.from('x'))).rejects.toMatchObject({
        code: 'no_stream_for_subject',
      });
    });

    it("delivers to a tenant's consumer only that tenant's subject, until acknowledged", async () => {
      await queue.ensureConsumer(shared, 'tenant-a', `jobs${tag}.tenant-a`);
      await queue.ensureConsumer(shared, 'tenant-b', `jobs${tag}.tenant-b`);
      await queue.publish(`jobs${tag}.tenant-a`, Buffer.from('a2'));
      const forA = await queue.fetch(shared, 'tenant-a', 10, 1000);
      expect(forA.map((m) => m.data.toString())).toEqual(['a1', 'a2']);
      expect(forA.every((m) => m.subject === `jobs${tag}.tenant-a`)).toBe(true);
      await forA[0]!.ack();
      await forA[1]!.nak(0);
      const again = await queue.fetch(shared, 'tenant-a', 10, 1000);
      expect(again.map((m) => m.data.toString())).toEqual(['a2']);
      expect(again[0]!.deliveryCount).toBe(2);
      await again[0]!.ack();
      expect(await queue.fetch(shared, 'tenant-a', 10, 1000)).toEqual([]);
      const forB = await queue.fetch(shared, 'tenant-b', 10, 1000);
      expect(forB.map((m) => m.data.toString())).toEqual(['b1']);
      await forB[0]!.ack();
    });

    it('keeps unacknowledged messages for a consumer that is not fetching (a suspended tenant)', async () => {
      await queue.publish(`jobs${tag}.tenant-b`, Buffer.from('b2'));
      await queue.publish(`jobs${tag}.tenant-b`, Buffer.from('b3'));
      const later = await queue.fetch(shared, 'tenant-b', 10, 1000);
      expect(later.map((m) => m.data.toString())).toEqual(['b2', 'b3']);
      for (const m of later) await m.ack();
    });

    it('delivers nothing to a paused consumer (a suspended tenant) and everything once it resumes', async () => {
      await queue.ensureConsumer(shared, 'tenant-p', `jobs${tag}.tenant-p`);
      await queue.setConsumerPaused(shared, 'tenant-p', true);
      expect(await queue.consumerPaused(shared, 'tenant-p')).toBe(true);
      await queue.publish(`jobs${tag}.tenant-p`, Buffer.from('p1'));
      await queue.publish(`jobs${tag}.tenant-p`, Buffer.from('p2'));
      expect(await queue.fetch(shared, 'tenant-p', 10, 1000)).toEqual([]);
      // Re-ensuring the consumer (a reconcile) does not resume it.
      await queue.ensureConsumer(shared, 'tenant-p', `jobs${tag}.tenant-p`);
      expect(await queue.fetch(shared, 'tenant-p', 10, 1000)).toEqual([]);
      await queue.setConsumerPaused(shared, 'tenant-p', false);
      expect(await queue.consumerPaused(shared, 'tenant-p')).toBe(false);
      const delivered = await queue.fetch(shared, 'tenant-p', 10, 1000);
      expect(delivered.map((m) => m.data.toString())).toEqual(['p1', 'p2']);
      for (const m of delivered) await m.ack();
    });

    it('refuses bad names and subjects, and unknown consumers', async () => {
      await expect(queue.ensureStream('bad name', ['x'])).rejects.toMatchObject({ code: 'invalid_stream_name' });
      await expect(queue.publish('jobs.*', Buffer.from('x'))).rejects.toMatchObject({ code: 'invalid_subject' });
      await expect(queue.publish('jobs..a', Buffer.from('x'))).rejects.toMatchObject({ code: 'invalid_subject' });
      await expect(queue.ensureConsumer(shared, 'c', 'a.>.b')).rejects.toMatchObject({ code: 'invalid_subject' });
      await expect(queue.fetch(shared, 'nobody', 1, 1000)).rejects.toMatchObject({ code: 'consumer_not_found' });
      await expect(queue.ensureConsumer(`missing_${tag}`, 'c', 'a.b')).rejects.toMatchObject({
        code: 'stream_not_found',
      });
    });

    it('removes streams with their consumers; removing twice is fine', async () => {
      await queue.removeStream(dedicated);
      await queue.removeStream(dedicated);
      expect(await queue.streamExists(dedicated)).toBe(false);
    });
  });
}
