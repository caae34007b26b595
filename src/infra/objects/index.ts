/**
 * Objects port: buckets of blobs on the local filesystem (default) or the S3 protocol,
 * picked from configuration in {@link connectObjectStore}, and prefix-scoped views.
 */
import { join } from 'node:path';
import { FsObjectStore } from './fs-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-store.js';

export { FsObjectStore } from './fs-store.js';
export { S3ObjectStore, parseS3Url } from './s3-store.js';
export { ScopedObjects } from './scoped-store.js';
export { validateBucket, validateObjectKey } from './object-store.js';
export type { ObjectStore, ObjectInfo, ObjectPage, StoredObject } from './object-store.js';

/** The S3 engine when `s3Url` is set, else files under `<dataDir>/objects`. */
export function connectObjectStore(options: { s3Url?: string | undefined; dataDir: string }): ObjectStore {
  return options.s3Url ? new S3ObjectStore(options.s3Url) : new FsObjectStore(join(options.dataDir, 'objects'));
}
