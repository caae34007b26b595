/**
 * The object-store port: buckets of keyed blobs. Implementations: the local filesystem
 * (embedded default, under the data dir) and the S3 protocol (`TENANCY_S3_URL`). Every
 * operation is idempotent where S3's is ("already there" and "already gone" succeed),
 * and every key and bucket name is validated here, before any engine sees it.
 */
import { TenancyError, validationError } from '../../errors.js';

/** One stored object's metadata. */
export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  contentType: string;
}

/** An object with its body. */
export interface StoredObject extends ObjectInfo {
  body: Buffer;
}

/** A page of a listing, in key order. */
export interface ObjectPage {
  items: ObjectInfo[];
  /** Pass as `after` for the next page; null at the end. */
  next: string | null;
}

/** Buckets of objects. */
export interface ObjectStore {
  readonly engine: 'fs' | 's3';
  ensureBucket(bucket: string): Promise<void>;
  bucketExists(bucket: string): Promise<boolean>;
  /** Remove a bucket; with `force`, its objects first. A missing bucket is success. */
  removeBucket(bucket: string, options?: { force?: boolean }): Promise<void>;
  put(bucket: string, key: string, body: Buffer, options?: { contentType?: string }): Promise<ObjectInfo>;
  /** The object, or undefined when there is none. */
  get(bucket: string, key: string): Promise<StoredObject | undefined>;
  /** Delete one object; a missing one is success. */
  delete(bucket: string, key: string): Promise<void>;
  list(bucket: string, options?: { prefix?: string; after?: string; limit?: number }): Promise<ObjectPage>;
  /** Delete every object under `prefix`; returns how many. */
  deletePrefix(bucket: string, prefix: string): Promise<number>;
  close(): Promise<void>;
}

const BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/** Validate a bucket name (S3 rules, without dots so names stay DNS- and path-safe). */
export function validateBucket(bucket: string): string {
  if (!BUCKET.test(bucket) || bucket.includes('--')) {
    throw validationError(
      `"${bucket.slice(0, 70)}" is not a valid bucket name`,
      [
        {
          path: '/bucket',
          message: 'must be 3..63 lowercase letters, digits and single "-", starting and ending alphanumeric',
        },
      ],
      'invalid_bucket',
    );
  }
  return bucket;
}

/**
 * Validate an object key: 1..1024 UTF-8 bytes, no control characters or backslashes, no
 * leading "/", and no "." or ".." segment, so no key can climb out of a prefix.
 */
export function validateObjectKey(key: string, path = '/key'): string {
  const problems: string[] = [];
  if (key.length === 0) problems.push('must not be empty');
  if (Buffer.byteLength(key, 'utf8') > 1024) problems.push('must be at most 1024 bytes');
  // eslint-disable-next-line no-control-regex
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (/[\u0000-\u001f\u007f\\]/.test(key)) problems.push('must not contain control characters or "\\"');
  if (key.startsWith('/')) problems.push('must not start with "/"');
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(key))
    problems.push('must be well-formed Unicode');
  if (key.split('/').some((s) => s === '.' || s === '..')) problems.push('must not contain "." or ".." segments');
  if (
    key
      .split('/')
      .slice(0, -1)
      .some((s) => s === '')
  )
    problems.push('must not contain empty segments ("//")');
  if (problems.length > 0)
    throw validationError(
      `"${key.slice(0, 80)}" is not a valid object key`,
      [{ path, message: problems.join('; ') }],
      'invalid_object_key',
    );
  return key;
}

/** Wrap an engine failure so callers see one error type with the cause kept. */
export function objectStoreError(operation: string, cause: unknown): TenancyError {
  return new TenancyError(
    'object_store_unavailable',
    `object store ${operation} failed: ${(cause as Error).message ?? String(cause)}`,
    { cause },
  );
}

/** The bucket does not exist. */
export function bucketNotFound(bucket: string): TenancyError {
  return new TenancyError('bucket_not_found', `bucket ${bucket} does not exist`);
}

/** The bucket still holds objects. */
export function bucketNotEmpty(bucket: string): TenancyError {
  return new TenancyError('bucket_not_empty', `bucket ${bucket} is not empty`);
}
