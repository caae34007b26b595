/**
 * The filesystem object store (embedded default). A bucket is a directory; each object is
 * a file named by the SHA-256 of its key, beside a small JSON record of its key, size,
 * etag and content type, so any key S3 accepts maps to a safe file name. Writes go to a
 * temporary file and are renamed into place, so a reader never sees half an object.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  bucketNotEmpty,
  bucketNotFound,
  validateBucket,
  validateObjectKey,
  type ObjectInfo,
  type ObjectPage,
  type ObjectStore,
  type StoredObject,
} from './object-store.js';

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** Objects under `root` (for example `<data dir>/objects`). */
export class FsObjectStore implements ObjectStore {
  readonly engine = 'fs' as const;

  constructor(private readonly root: string) {}

  #bucketDir(bucket: string): string {
    return join(this.root, validateBucket(bucket));
  }

  async ensureBucket(bucket: string): Promise<void> {
    await mkdir(this.#bucketDir(bucket), { recursive: true });
  }

  async bucketExists(bucket: string): Promise<boolean> {
    try {
      return (await stat(this.#bucketDir(bucket))).isDirectory();
    } catch {
      return false;
    }
  }

  async removeBucket(bucket: string, options: { force?: boolean } = {}): Promise<void> {
    const dir = this.#bucketDir(bucket);
    if (!(await this.bucketExists(bucket))) return;
    if (!options.force && (await readdir(dir)).some((f) => f.endsWith('.json'))) {
      throw bucketNotEmpty(bucket);
    }
    await rm(dir, { recursive: true, force: true });
  }

  async put(bucket: string, key: string, body: Buffer, options: { contentType?: string } = {}): Promise<ObjectInfo> {
    validateObjectKey(key);
    const dir = this.#bucketDir(bucket);
    if (!(await this.bucketExists(bucket))) throw bucketNotFound(bucket);
    const h = hashKey(key);
    const info: ObjectInfo = {
      key,
      size: body.length,
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      contentType: options.contentType ?? 'application/octet-stream',
    };
    const tmp = randomBytes(6).toString('hex');
    await writeFile(join(dir, `${h}.${tmp}.tmp`), body);
    await rename(join(dir, `${h}.${tmp}.tmp`), join(dir, `${h}.data`));
    await writeFile(join(dir, `${h}.${tmp}.jtmp`), JSON.stringify(info));
    await rename(join(dir, `${h}.${tmp}.jtmp`), join(dir, `${h}.json`));
    return info;
  }

  async get(bucket: string, key: string): Promise<StoredObject | undefined> {
    validateObjectKey(key);
    const dir = this.#bucketDir(bucket);
    const h = hashKey(key);
    try {
      const info = JSON.parse(await readFile(join(dir, `${h}.json`), 'utf8')) as ObjectInfo;
      const body = await readFile(join(dir, `${h}.data`));
      return { ...info, body };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    validateObjectKey(key);
    const dir = this.#bucketDir(bucket);
    const h = hashKey(key);
    await rm(join(dir, `${h}.json`), { force: true });
    await rm(join(dir, `${h}.data`), { force: true });
  }

  async #all(bucket: string): Promise<ObjectInfo[]> {
    const dir = this.#bucketDir(bucket);
    let files: string[];
    try {
      files = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const infos: ObjectInfo[] = [];
    for (const f of files) {
      if (!f.endsWith('.json')) continue;
      try {
        infos.push(JSON.parse(await readFile(join(dir, f), 'utf8')) as ObjectInfo);
      } catch {
        /* deleted meanwhile */
      }
    }
    return infos.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async list(bucket: string, options: { prefix?: string; after?: string; limit?: number } = {}): Promise<ObjectPage> {
    const limit = options.limit ?? 1000;
    const all = (await this.#all(bucket)).filter(
      (o) =>
        (options.prefix === undefined || o.key.startsWith(options.prefix)) &&
        (options.after === undefined || o.key > options.after),
    );
    const items = all.slice(0, limit);
    return { items, next: all.length > limit ? items[items.length - 1]!.key : null };
  }

  async deletePrefix(bucket: string, prefix: string): Promise<number> {
    const victims = (await this.#all(bucket)).filter((o) => o.key.startsWith(prefix));
    for (const o of victims) await this.delete(bucket, o.key);
    return victims.length;
  }

  async close(): Promise<void> {}
}
