/**
 * A view of one bucket and prefix: what a tenant-scoped handle hands out. Keys are
 * validated as relative keys and joined under the prefix, and keys read back are
 * stripped of it, so a caller can neither name nor see anything outside its prefix.
 */
import {
  validateObjectKey,
  type ObjectInfo,
  type ObjectPage,
  type ObjectStore,
  type StoredObject,
} from './object-store.js';

/** Objects confined to `bucket` under `prefix` (empty prefix = the whole bucket). */
export class ScopedObjects {
  constructor(
    private readonly store: ObjectStore,
    readonly bucket: string,
    readonly prefix: string,
  ) {
    if (prefix !== '') validateObjectKey(prefix.replace(/\/$/, ''), '/prefix');
  }

  #full(key: string): string {
    return this.prefix + validateObjectKey(key);
  }

  #strip<T extends ObjectInfo>(o: T): T {
    return { ...o, key: o.key.slice(this.prefix.length) };
  }

  async put(key: string, body: Buffer, options?: { contentType?: string }): Promise<ObjectInfo> {
    return this.#strip(await this.store.put(this.bucket, this.#full(key), body, options));
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const o = await this.store.get(this.bucket, this.#full(key));
    return o && this.#strip(o);
  }

  async delete(key: string): Promise<void> {
    await this.store.delete(this.bucket, this.#full(key));
  }

  async list(options: { prefix?: string; after?: string; limit?: number } = {}): Promise<ObjectPage> {
    const page = await this.store.list(this.bucket, {
      prefix: this.prefix + (options.prefix ?? ''),
      ...(options.after !== undefined ? { after: this.prefix + options.after } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    });
    return {
      items: page.items.map((o) => this.#strip(o)),
      next: page.next === null ? null : page.next.slice(this.prefix.length),
    };
  }

  /** Delete everything in scope. */
  async clear(): Promise<number> {
    return this.store.deletePrefix(this.bucket, this.prefix);
  }
}
