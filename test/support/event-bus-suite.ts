/**
 * The behaviour every event-bus engine must have; run for the in-process bus and for NATS
 * JetStream so both are held to the same contract. Delivery may follow the publish
 * (JetStream) or happen inside it (in-process), so the suite waits for what it expects, and
 * proves a message was not delivered by a later one that was (delivery keeps publish order).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusMessage, EventBus } from '../../src/infra/bus/index.js';

/** A bus for the suite, and the subject prefix it carries (`<prefix>.>`). */
export interface BusUnderTest {
  bus: EventBus;
  prefix: string;
  stop: () => Promise<void>;
}

/** Messages a subscriber got, with a wait for the one that should come. */
class Inbox {
  readonly messages: BusMessage[] = [];
  readonly handler = (message: BusMessage): void => void this.messages.push(message);

  ids(): string[] {
    return this.messages.map((m) => m.id);
  }

  async until(id: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ids().includes(id)) {
      if (Date.now() > deadline) throw new Error(`message ${id} was not delivered (got ${this.ids().join(', ')})`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

export function runEventBusSuite(name: string, factory: () => Promise<BusUnderTest>): void {
  describe(`event bus: ${name}`, () => {
    let bus: EventBus;
    let prefix: string;
    let stop: () => Promise<void>;
    let n = 0;
    const id = () => `${randomBytes(4).toString('hex')}-${++n}`;
    const publish = async (subject: string, messageId = id(), data = '{}'): Promise<string> => {
      await bus.publish({
        subject: `${prefix}.${subject}`,
        id: messageId,
        data: Buffer.from(data),
        contentType: 'application/json',
      });
      return messageId;
    };

    beforeAll(async () => {
      ({ bus, prefix, stop } = await factory());
    });
    afterAll(async () => {
      await stop?.();
    });

    it('delivers a message with its subject, id, data and content type', async () => {
      const inbox = new Inbox();
      const off = await bus.subscribe(`${prefix}.fields`, inbox.handler);
      try {
        const sent = id();
        await bus.publish({
          subject: `${prefix}.fields`,
          id: sent,
          data: Buffer.from([0, 1, 2, 255]),
          contentType: 'application/cloudevents+json',
        });
        await inbox.until(sent);
        const [got] = inbox.messages;
        expect(got!.subject).toBe(`${prefix}.fields`);
        expect(got!.id).toBe(sent);
        expect(Buffer.from(got!.data)).toEqual(Buffer.from([0, 1, 2, 255]));
        expect(got!.contentType).toBe('application/cloudevents+json');
      } finally {
        await off();
      }
    });

    it("keeps tenants apart: a tenant's filter gets its own subjects only, in publish order", async () => {
      const a = new Inbox();
      const b = new Inbox();
      const offA = await bus.subscribe(`${prefix}.tenant.acme`, a.handler);
      const offB = await bus.subscribe(`${prefix}.tenant.globex`, b.handler);
      try {
        const sent: Record<string, string[]> = { acme: [], globex: [] };
        for (const tenant of ['acme', 'globex', 'acme', 'acme', 'globex', 'acmex'])
          (sent[tenant] ??= []).push(await publish(`tenant.${tenant}`));
        await a.until(sent.acme!.at(-1)!);
        await b.until(sent.globex!.at(-1)!);
        expect(a.ids()).toEqual(sent.acme);
        expect(b.ids()).toEqual(sent.globex);
        expect(a.messages.every((m) => m.subject === `${prefix}.tenant.acme`)).toBe(true);
      } finally {
        await offA();
        await offB();
      }
    });

    it('matches NATS wildcards: `*` one token, `>` one or more', async () => {
      const one = new Inbox();
      const many = new Inbox();
      const offOne = await bus.subscribe(`${prefix}.wild.*`, one.handler);
      const offMany = await bus.subscribe(`${prefix}.wild.>`, many.handler);
      try {
        const deep = await publish('wild.acme.created');
        const flat = await publish('wild.acme');
        await one.until(flat);
        await many.until(flat);
        expect(one.ids()).toEqual([flat]);
        expect(many.ids()).toEqual([deep, flat]);
      } finally {
        await offOne();
        await offMany();
      }
    });

    it('gives every subscriber of a subject its own copy', async () => {
      const first = new Inbox();
      const second = new Inbox();
      const offFirst = await bus.subscribe(`${prefix}.fanout`, first.handler);
      const offSecond = await bus.subscribe(`${prefix}.fanout`, second.handler);
      try {
        const sent = await publish('fanout');
        await first.until(sent);
        await second.until(sent);
        expect(first.ids()).toEqual([sent]);
        expect(second.ids()).toEqual([sent]);
      } finally {
        await offFirst();
        await offSecond();
      }
    });

    it('delivers only what is published after subscribing, and nothing after unsubscribing', async () => {
      const before = await publish('window');
      const inbox = new Inbox();
      const off = await bus.subscribe(`${prefix}.window`, inbox.handler);
      const during = await publish('window');
      await inbox.until(during);
      await off();
      await publish('window');
      // A later subscriber's message shows the bus has moved past the one published after `off`.
      const witness = new Inbox();
      const offWitness = await bus.subscribe(`${prefix}.window`, witness.handler);
      const last = await publish('window');
      await witness.until(last);
      await offWitness();
      expect(inbox.ids()).toEqual([during]);
      expect(inbox.ids()).not.toContain(before);
    });

    it('keeps delivering to others when one subscriber is gone; unsubscribing twice is fine', async () => {
      const stays = new Inbox();
      const leaves = new Inbox();
      const offStays = await bus.subscribe(`${prefix}.leave`, stays.handler);
      const offLeaves = await bus.subscribe(`${prefix}.leave`, leaves.handler);
      await offLeaves();
      await offLeaves();
      const sent = await publish('leave');
      await stays.until(sent);
      await offStays();
      expect(leaves.ids()).toEqual([]);
    });
  });
}
