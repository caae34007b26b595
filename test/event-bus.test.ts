/**
 * The event-bus port in process and on NATS JetStream (TENANCY_TEST_NATS_URL; skipped with
 * a message when absent).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryEventBus, NatsEventBus, connectEventBus } from '../src/infra/bus/index.js';
import { runEventBusSuite } from './support/event-bus-suite.js';

const NATS_URL = process.env.TENANCY_TEST_NATS_URL;

runEventBusSuite('in-process', async () => {
  const bus = new MemoryEventBus();
  return { bus, prefix: 'tenancy.events', stop: () => bus.close() };
});

if (NATS_URL) {
  runEventBusSuite('NATS JetStream', async () => {
    const tag = randomBytes(4).toString('hex');
    const stream = `tenancy-test-bus-${tag}`;
    const prefix = `tbus${tag}`;
    const bus = await NatsEventBus.connect(NATS_URL, { stream, subjectPrefix: prefix });
    return {
      bus,
      prefix,
      async stop() {
        await bus.manager.streams.delete(stream).catch(() => undefined);
        await bus.close();
      },
    };
  });
} else {
  describe.skip('event bus: NATS JetStream', () => {
    it('needs TENANCY_TEST_NATS_URL', () => undefined);
  });
  console.warn('[tenancy tests] TENANCY_TEST_NATS_URL is not set: NATS event-bus suites are SKIPPED');
}

describe('event bus configuration', () => {
  it('picks the engine from the URL, and reports an unreachable NATS server as a clear error', async () => {
    const bus = await connectEventBus({ stream: 'unused', subjectPrefix: 'unused' });
    expect(bus.engine).toBe('memory');
    await bus.close();
    await expect(
      connectEventBus({ natsUrl: 'nats://127.0.0.1:9', stream: 'unused', subjectPrefix: 'unused' }),
    ).rejects.toMatchObject({ code: 'bus_unavailable' });
  });
});
