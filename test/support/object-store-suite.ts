/**
 * The behaviour every object-store engine must have; run for the filesystem and for the
 * S3 protocol so both are held to the same contract.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScopedObjects, type ObjectStore } from '../../src/infra/objects/index.js';

export function runObjectStoreSuite(
  name: string,
  factory: () => Promise<{ store: ObjectStore; stop: () => Promise<void> }>,
): void {
  describe(`object store: ${name}`, () => {
    let store: ObjectStore;
    let stop: () => Promise<void>;
    const bucket = `b-${randomBytes(4).toString('hex')}`;

    beforeAll(async () => {
      ({ store, stop } = await factory());
    });
    afterAll(async () => {
      await stop?.();
    });

    it('creates buckets idempotently and reports them', async () => {
      expect(await store.bucketExists(bucket)).toBe(false);
      await store.ensureBucket(bucket);
      await store.ensureBucket(bucket);
      expect(await store.bucketExists(bucket)).toBe(true);
    });

    it('puts, gets, overwrites and deletes objects; a missing object is undefined', async () => {
      const info = await store.put(bucket, 'tenants/acme/report.csv', Buffer.from('a,b\n1,2\n'), {
        contentType: 'text/csv',
      });
      expect(info).toMatchObject({ key: 'tenants/acme/report.csv', size: 8 });
      const got = await store.get(bucket, 'tenants/acme/report.csv');
      expect(got?.body.toString()).toBe('a,b\n1,2\n');
      expect(got?.contentType).toBe('text/csv');
      await store.put(bucket, 'tenants/acme/report.csv', Buffer.from('new'));
      expect((await store.get(bucket, 'tenants/acme/report.csv'))?.body.toString()).toBe('new');
      await store.delete(bucket, 'tenants/acme/report.csv');
      await store.delete(bucket, 'tenants/acme/report.csv');
      expect(await store.get(bucket, 'tenants/acme/report.csv')).toBeUndefined();
    });

    it('keeps "a" and "a/b" apart and round-trips unusual keys', async () => {
      await store.put(bucket, 'x/a', Buffer.from('1'));
      await store.put(bucket, 'x/a/b', Buffer.from('2'));
      await store.put(bucket, 'x/ünïcode & spaces+plus=.txt', Buffer.from('3'));
      expect((await store.get(bucket, 'x/a'))?.body.toString()).toBe('1');
      expect((await store.get(bucket, 'x/a/b'))?.body.toString()).toBe('2');
      expect((await store.get(bucket, 'x/ünïcode & spaces+plus=.txt'))?.body.toString()).toBe('3');
    });

    it('lists by prefix in key order with pagination', async () => {
      for (let i = 0; i < 7; i++) await store.put(bucket, `list/${String(i).padStart(2, '0')}`, randomBytes(10));
      await store.put(bucket, 'listing-other', Buffer.from('x'));
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.list(bucket, { prefix: 'list/', limit: 3, ...(after ? { after } : {}) });
        seen.push(...page.items.map((o) => o.key));
        if (page.next === null) break;
        after = page.next;
      }
      expect(seen).toEqual(['list/00', 'list/01', 'list/02', 'list/03', 'list/04', 'list/05', 'list/06']);
      expect(await store.deletePrefix(bucket, 'list/')).toBe(7);
      expect((await store.list(bucket, { prefix: 'list/' })).items).toEqual([]);
      expect((await store.get(bucket, 'listing-other'))?.body.toString()).toBe('x');
    });

    it('refuses keys that could escape a prefix, and bad bucket names, before the engine sees them', async () => {
      for (const key of [
        '\ud800x',
        '',
        '../etc/passwd',
        'a/../../b',
        './a',
        '/abs',
        'a//b',
        'back\\slash',
        'nul\u0000',
        'x'.repeat(1025),
      ]) {
        await expect(store.put(bucket, key, Buffer.from('x')), JSON.stringify(key)).rejects.toMatchObject({
          code: 'invalid_object_key',
          status: 400,
        });
      }
      for (const b of ['A', 'ab', 'has_underscore', '-start', 'end-', 'a--b', 'x'.repeat(64)]) {
        await expect(store.ensureBucket(b), b).rejects.toMatchObject({ code: 'invalid_bucket' });
      }
    });

    it('confines a scoped view to its prefix', async () => {
      const a = new ScopedObjects(store, bucket, 'tenants/a/');
      const b = new ScopedObjects(store, bucket, 'tenants/b/');
      await a.put('notes/1.txt', Buffer.from('from a'));
      await b.put('notes/1.txt', Buffer.from('from b'));
      expect((await a.get('notes/1.txt'))?.body.toString()).toBe('from a');
      expect((await a.list()).items.map((o) => o.key)).toEqual(['notes/1.txt']);
      await expect(a.get('../b/notes/1.txt')).rejects.toMatchObject({ code: 'invalid_object_key' });
      await fc.assert(
        // Keys built from the characters that matter for escaping a prefix.
        fc.asyncProperty(fc.stringMatching(/^[a-z0-9./\\-]{0,24}$/), async (key) => {
          try {
            await a.put(key, Buffer.from('p'));
          } catch (error) {
            expect((error as { code?: string }).code).toBe('invalid_object_key');
            return;
          }
          const raw = await store.list(bucket, { prefix: 'tenants/' });
          for (const o of raw.items)
            expect(o.key.startsWith('tenants/a/') || o.key.startsWith('tenants/b/')).toBe(true);
          expect((await b.list()).items.map((o) => o.key)).toEqual(['notes/1.txt']);
        }),
        { numRuns: 25 },
      );
      expect(await a.clear()).toBeGreaterThan(0);
      expect((await b.get('notes/1.txt'))?.body.toString()).toBe('from b');
    }, 120_000);

    it('removes buckets: refuses a full one without force, and a missing one is fine', async () => {
      await expect(store.removeBucket(bucket)).rejects.toMatchObject({ code: 'bucket_not_empty' });
      await store.removeBucket(bucket, { force: true });
      expect(await store.bucketExists(bucket)).toBe(false);
      await store.removeBucket(bucket);
      await expect(store.put(bucket, 'k', Buffer.from('x'))).rejects.toMatchObject({ code: 'bucket_not_found' });
    });
  });
}
