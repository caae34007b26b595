import { afterEach, describe, expect, it, vi } from 'vitest';
import { FairScheduler, type ReleaseSlot, type TenantShare } from './fair-scheduler.js';

/** Something that hands out slots: the scheduler, or a FIFO to show the checks would catch one. */
type Slots = { acquire(tenant: string, share: TenantShare): ReleaseSlot | Promise<ReleaseSlot> };

/** A plain FIFO with the same capacity: what "unfair" looks like. */
function fifo(capacity: number): Slots {
  let running = 0;
  const queue: Array<() => void> = [];
  const release = () => {
    running--;
    const next = queue.shift();
    if (next) next();
  };
  return {
    acquire() {
      if (running < capacity) {
        running++;
        return release;
      }
      return new Promise<ReleaseSlot>((resolve) =>
        queue.push(() => {
          running++;
          resolve(release);
        }),
      );
    },
  };
}

/**
 * Submit work in the given order with every slot busy, then complete one piece at a time
 * and return the order in which tenants got slots. Fully deterministic: no timers.
 */
async function dispatchOrder(
  slots: Slots,
  submissions: Array<[string, TenantShare]>,
  capacity: number,
): Promise<string[]> {
  const order: string[] = [];
  const held: ReleaseSlot[] = [];
  // Occupy every slot first, so everything below has to queue.
  for (let i = 0; i < capacity; i++)
    held.push((await slots.acquire(`filler-${i}`, { weight: 1, cap: 1 })) as ReleaseSlot);
  const pending = submissions.map(([tenant, share]) =>
    Promise.resolve(slots.acquire(tenant, share)).then((release) => {
      order.push(tenant);
      held.push(release);
    }),
  );
  while (order.length < submissions.length) {
    held.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  return order;
}

const share = (weight = 1, cap = 100): TenantShare => ({ weight, cap });

describe('FairScheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('grants at once while slots are free, and counts them', () => {
    const s = new FairScheduler({ capacity: 2 });
    const a = s.acquire('a', share());
    const b = s.acquire('b', share());
    expect(typeof a).toBe('function');
    expect(typeof b).toBe('function');
    expect(s.load).toMatchObject({ running: 2, waiting: 0 });
    (a as ReleaseSlot)();
    (a as ReleaseSlot)();
    expect(s.load.running).toBe(1);
    expect(s.running('a')).toBe(0);
  });

  it('a noisy tenant cannot starve another: B is served within a few slots, not after all of A', async () => {
    const submissions: Array<[string, TenantShare]> = [
      ...Array.from({ length: 50 }, (): [string, TenantShare] => ['noisy', share()]),
      ...Array.from({ length: 5 }, (): [string, TenantShare] => ['quiet', share()]),
    ];
    const fair = await dispatchOrder(new FairScheduler({ capacity: 1, maxQueuedPerTenant: 100 }), submissions, 1);
    const lastQuiet = fair.lastIndexOf('quiet');
    // Equal weights alternate: quiet's 5 pieces are done by the 10th slot handed out.
    expect(lastQuiet).toBeLessThanOrEqual(10);
    expect(fair.filter((t) => t === 'quiet')).toHaveLength(5);
    // The same check fails for a FIFO, where quiet waits behind all 50 of noisy's.
    const unfair = await dispatchOrder(fifo(1), submissions, 1);
    expect(unfair.indexOf('quiet')).toBe(50);
  });

  it('shares slots in proportion to weight while both tenants are backlogged', async () => {
    const submissions: Array<[string, TenantShare]> = [];
    for (let i = 0; i < 40; i++) submissions.push(['free', share(1)], ['enterprise', share(3)]);
    const order = await dispatchOrder(new FairScheduler({ capacity: 1, maxQueuedPerTenant: 100 }), submissions, 1);
    const first20 = order.slice(0, 20);
    const heavy = first20.filter((t) => t === 'enterprise').length;
    expect(heavy).toBeGreaterThanOrEqual(14);
    expect(heavy).toBeLessThanOrEqual(16);
  });

  it('gives an idle tenant no credit to crowd others out when it returns', async () => {
    const s = new FairScheduler({ capacity: 1, maxQueuedPerTenant: 1000 });
    // B works alone for a while (virtual time moves on); A was idle all along.
    for (let i = 0; i < 30; i++) ((await s.acquire('b', share())) as ReleaseSlot)();
    const order = await dispatchOrder(
      s,
      [
        ...Array.from({ length: 10 }, (): [string, TenantShare] => ['a', share()]),
        ...Array.from({ length: 10 }, (): [string, TenantShare] => ['b', share()]),
      ],
      1,
    );
    // Interleaved from the start: A does not get 10 in a row for having been idle.
    expect(order.slice(0, 6).filter((t) => t === 'a').length).toBeLessThanOrEqual(4);
    expect(order.slice(0, 6).filter((t) => t === 'b').length).toBeGreaterThanOrEqual(2);
  });

  it('holds a tenant to its cap even with free slots, while others use them', async () => {
    const s = new FairScheduler({ capacity: 10, maxQueuedPerTenant: 5 });
    const a1 = s.acquire('a', share(1, 2)) as ReleaseSlot;
    s.acquire('a', share(1, 2));
    let third: ReleaseSlot | undefined;
    const waiting = Promise.resolve(s.acquire('a', share(1, 2))).then((r) => (third = r));
    expect(typeof s.acquire('b', share(1, 2))).toBe('function');
    await Promise.resolve();
    expect(third).toBeUndefined();
    expect(s.queued('a')).toBe(1);
    a1();
    await waiting;
    expect(typeof third).toBe('function');
    expect(s.running('a')).toBe(2);
  });

  it('refuses with 429 and Retry-After when the queue is full, changing nothing', () => {
    const s = new FairScheduler({ capacity: 1, maxQueuedPerTenant: 2 });
    s.acquire('a', share());
    void s.acquire('b', share());
    void s.acquire('b', share());
    let error: any;
    try {
      s.acquire('b', share());
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'capacity_exceeded', status: 429, extensions: { queued: 2 } });
    expect(Number(error.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    expect(s.queued('b')).toBe(2);
    // Another tenant still gets its place in line.
    expect(s.acquire('c', share())).toBeInstanceOf(Promise);
  });

  it('without a queue, a tenant at its cap gets quota_exceeded (maxConcurrentRequests) at once', () => {
    const s = new FairScheduler();
    s.acquire('a', share(1, 1));
    expect(() => s.acquire('a', share(1, 1))).toThrow(
      expect.objectContaining({
        code: 'quota_exceeded',
        status: 429,
        extensions: expect.objectContaining({ quota: 'maxConcurrentRequests', limit: 1, current: 1 }),
        headers: { 'Retry-After': '1' },
      }),
    );
  });

  it('refuses a waiter that waited longer than maxWaitMs', async () => {
    vi.useFakeTimers();
    const s = new FairScheduler({ capacity: 1, maxQueuedPerTenant: 5, maxWaitMs: 1_000 });
    s.acquire('a', share());
    const waiting = Promise.resolve(s.acquire('b', share()));
    const outcome = waiting.then(
      () => 'granted',
      (e: { code: string }) => e.code,
    );
    await vi.advanceTimersByTimeAsync(1_001);
    expect(await outcome).toBe('capacity_exceeded');
    expect(s.load.waiting).toBe(0);
  });
});
