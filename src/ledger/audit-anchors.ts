/**
 * Audit anchors: copies of signed audit checkpoints kept outside the control-plane
 * database, so that whoever owns that database (and can disable its triggers) still cannot
 * rewrite, cut or re-sign the chain unnoticed. Two stores: an append-only JSON Lines file
 * in the data dir, fsynced per anchor, and one object per anchor in the object store
 * (files or S3). The writer ({@link AuditLog}) also publishes each anchor as an
 * `audit.checkpoint` event; verification reads the stores back.
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ObjectStore } from '../infra/objects/index.js';

/** A signed checkpoint as anchored outside the database. */
export interface AuditAnchor {
  seq: number;
  hash: string;
  /** First `seq` whose link is keyed; null on a checkpoint signed before keyed links existed. */
  keyedFrom: number | null;
  keyId: string;
  signature: string;
  ts: string;
}

/**
 * One anchor as a store lists it: its `seq` and `hash` (enough to compare with the
 * database's checkpoints), and `load` for the whole signed anchor when they differ.
 */
export interface ListedAnchor {
  seq: number;
  hash: string;
  load(): Promise<AuditAnchor | undefined>;
}

/** Somewhere anchors are kept. Stores never rewrite or remove an anchor. */
export interface AnchorStore {
  /** Where, for people reading a verification: `file /srv/tenancy/audit-anchors.jsonl`. */
  readonly where: string;
  /** Keep `anchor`; durable when the promise resolves. */
  write(anchor: AuditAnchor): Promise<void>;
  /** Every anchor held, in `seq` order; throws when the store cannot be read or holds something that is not an anchor. */
  list(): Promise<ListedAnchor[]>;
  /** The anchor with the highest `seq`, or undefined when there is none. */
  latest(): Promise<AuditAnchor | undefined>;
}

/** The anchor bucket in the object store; no tenant bucket (`shared`, `data-<id>`) can take this name. */
export const AUDIT_ANCHOR_BUCKET = 'tenancy-audit';
/** The anchor file's name in the data dir. */
export const AUDIT_ANCHOR_FILE = 'audit-anchors.jsonl';

const HASH = /^[0-9a-f]{64}$/;

/** `value` as an anchor, or undefined when it is not one. */
export function parseAnchor(value: unknown): AuditAnchor | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const a = value as Record<string, unknown>;
  const seq = a.seq;
  const keyedFrom = a.keyedFrom ?? null;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return undefined;
  if (typeof a.hash !== 'string' || !HASH.test(a.hash)) return undefined;
  if (keyedFrom !== null && (typeof keyedFrom !== 'number' || !Number.isSafeInteger(keyedFrom) || keyedFrom < 1))
    return undefined;
  if (typeof a.keyId !== 'string' || typeof a.signature !== 'string' || typeof a.ts !== 'string') return undefined;
  return { seq, hash: a.hash, keyedFrom, keyId: a.keyId, signature: a.signature, ts: a.ts };
}

/** The anchors in the data dir (or wherever `path` points): one JSON object a line, appended and fsynced. */
export class FileAnchorStore implements AnchorStore {
  readonly where: string;
  #endChecked = false;

  constructor(readonly path: string) {
    this.where = `file ${path}`;
  }

  async write(anchor: AuditAnchor): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const handle = await open(this.path, 'a+', 0o600);
    let created = false;
    try {
      let lead = '';
      if (!this.#endChecked) {
        // A crash in the middle of a line leaves it without its newline: start on a new one.
        const { size } = await handle.stat();
        created = size === 0;
        if (size > 0) {
          const last = Buffer.alloc(1);
          await handle.read(last, 0, 1, size - 1);
          if (last[0] !== 0x0a) lead = '\n';
        }
      }
      await handle.write(`${lead}${JSON.stringify(anchor)}\n`);
      await handle.datasync();
      this.#endChecked = true;
    } finally {
      await handle.close();
    }
    if (created) await syncDir(dirname(this.path));
  }

  async list(): Promise<ListedAnchor[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const lines = text.split('\n');
    // The last piece is empty after a final newline, or a line cut short by a crash: not an anchor yet.
    lines.pop();
    const out: ListedAnchor[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        // A line a crash cut short (the next start goes on on a new line): it anchors nothing.
        return;
      }
      const anchor = parseAnchor(value);
      if (!anchor) throw new Error(`line ${i + 1} is not an audit anchor`);
      out.push({ seq: anchor.seq, hash: anchor.hash, load: async () => anchor });
    });
    return out.sort((a, b) => a.seq - b.seq);
  }

  async latest(): Promise<AuditAnchor | undefined> {
    let handle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      // Anchors are appended in seq order: the newest is among the last lines.
      const { size } = await handle.stat();
      const length = Math.min(size, 64 * 1024);
      const tail = Buffer.alloc(length);
      await handle.read(tail, 0, length, size - length);
      const lines = tail.toString('utf8').split('\n');
      lines.pop();
      let best: AuditAnchor | undefined;
      for (const line of lines) {
        let anchor: AuditAnchor | undefined;
        try {
          anchor = parseAnchor(JSON.parse(line));
        } catch {
          continue;
        }
        if (anchor && (!best || anchor.seq > best.seq)) best = anchor;
      }
      return best;
    } finally {
      await handle.close();
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    /* some filesystems refuse fsync on a directory */
  } finally {
    await handle.close();
  }
}

/**
 * The anchors in the object store, one object per anchor under `prefix`. The key holds the
 * anchor's `seq` (zero-padded, so keys sort by it) and `hash`, so a listing alone compares
 * them with the database; the body is the signed anchor.
 */
export class ObjectAnchorStore implements AnchorStore {
  readonly where: string;
  #bucketReady = false;

  constructor(
    private readonly objects: ObjectStore,
    readonly bucket: string,
    readonly prefix: string,
  ) {
    this.where = `object store (${objects.engine}) ${bucket}/${prefix}`;
  }

  #key(anchor: { seq: number; hash: string }): string {
    return `${this.prefix}${String(anchor.seq).padStart(16, '0')}-${anchor.hash}.json`;
  }

  async write(anchor: AuditAnchor): Promise<void> {
    try {
      if (!this.#bucketReady) {
        await this.objects.ensureBucket(this.bucket);
        this.#bucketReady = true;
      }
      await this.objects.put(this.bucket, this.#key(anchor), Buffer.from(JSON.stringify(anchor)), {
        contentType: 'application/json',
      });
    } catch (error) {
      // The bucket may be what went missing: make sure of it again next time.
      this.#bucketReady = false;
      throw error;
    }
  }

  async list(): Promise<ListedAnchor[]> {
    const out: ListedAnchor[] = [];
    let after: string | undefined;
    for (;;) {
      // The S3 engine pages by 1,000 whatever is asked; the file engine answers in one call.
      const page = await this.objects.list(this.bucket, {
        prefix: this.prefix,
        ...(after !== undefined ? { after } : {}),
        limit: Number.MAX_SAFE_INTEGER,
      });
      for (const item of page.items) {
        const m = /^(\d{16})-([0-9a-f]{64})\.json$/.exec(item.key.slice(this.prefix.length));
        if (!m) throw new Error(`object ${item.key} is not an audit anchor`);
        const key = item.key;
        out.push({ seq: Number(m[1]), hash: m[2]!, load: () => this.#load(key) });
      }
      if (page.next === null) break;
      after = page.next;
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  async #load(key: string): Promise<AuditAnchor | undefined> {
    const object = await this.objects.get(this.bucket, key);
    if (!object) return undefined;
    try {
      return parseAnchor(JSON.parse(object.body.toString('utf8')));
    } catch {
      return undefined;
    }
  }

  async latest(): Promise<AuditAnchor | undefined> {
    const all = await this.list();
    const newest = all[all.length - 1];
    return newest ? newest.load() : undefined;
  }
}

/** The anchor stores of a control plane: `<dataDir>/audit-anchors.jsonl`, and `tenancy-audit/anchors/<instance>/` in its object store. */
export function auditAnchorStores(options: { dataDir: string; objects: ObjectStore; instance: string }): AnchorStore[] {
  return [
    new FileAnchorStore(join(options.dataDir, AUDIT_ANCHOR_FILE)),
    new ObjectAnchorStore(options.objects, AUDIT_ANCHOR_BUCKET, `anchors/${options.instance}/`),
  ];
}
