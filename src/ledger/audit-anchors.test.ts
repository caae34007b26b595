/**
 * Anchor stores: the JSON Lines file survives a line cut short by a crash and refuses a
 * line that is not an anchor; the object store keeps one object per anchor whose key alone
 * tells its seq and hash. Both list in seq order and find the newest.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../infra/objects/index.js';
import { FileAnchorStore, ObjectAnchorStore, type AuditAnchor } from './audit-anchors.js';

const anchor = (seq: number): AuditAnchor => ({
  seq,
  hash: randomBytes(32).toString('hex'),
  keyedFrom: 1,
  keyId: 'audit-0123456789ab',
  signature: randomBytes(64).toString('base64url'),
  ts: new Date().toISOString(),
});

describe('audit anchor stores', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tenancy-anchors-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('appends to the file, goes on after a line cut short, and refuses a line that is not an anchor', async () => {
    const file = new FileAnchorStore(join(dir, 'audit-anchors.jsonl'));
    expect(await file.list()).toEqual([]);
    expect(await file.latest()).toBeUndefined();
    const a = [anchor(1), anchor(100), anchor(200)];
    await file.write(a[0]!);
    await file.write(a[1]!);
    await appendFile(file.path, '{"seq":150,"hash":"ab'); // a crash in the middle of a line
    expect((await file.list()).map((x) => x.seq)).toEqual([1, 100]);
    const again = new FileAnchorStore(file.path);
    await again.write(a[2]!);
    expect((await readFile(file.path, 'utf8')).split('\n')).toHaveLength(5);
    expect((await again.list()).map((x) => x.seq)).toEqual([1, 100, 200]);
    expect(await again.latest()).toEqual(a[2]);
    await appendFile(file.path, '{"seq":300,"hash":"not a hash"}\n');
    await expect(again.list()).rejects.toThrow('line 5 is not an audit anchor');
  });

  it('keeps one object per anchor, listed from the keys alone', async () => {
    const objects = new FsObjectStore(join(dir, 'objects'));
    const store = new ObjectAnchorStore(objects, 'tenancy-audit', 'anchors/default/');
    expect(await store.list()).toEqual([]);
    const a = [anchor(300), anchor(7), anchor(12)];
    for (const x of a) await store.write(x);
    const listed = await store.list();
    expect(listed.map((x) => [x.seq, x.hash])).toEqual([a[1], a[2], a[0]].map((x) => [x!.seq, x!.hash]));
    expect(await listed[0]!.load()).toEqual(a[1]);
    expect(await store.latest()).toEqual(a[0]);
    expect(store.where).toBe('object store (fs) tenancy-audit/anchors/default/');
    await objects.put('tenancy-audit', 'anchors/default/notes.txt', Buffer.from('hello'));
    await expect(store.list()).rejects.toThrow('object anchors/default/notes.txt is not an audit anchor');
  });
});
