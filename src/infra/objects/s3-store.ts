/**
 * The S3-protocol object store (`TENANCY_S3_URL`), on the AWS SDK v3 client with
 * path-style addressing so any S3-compatible service works.
 * URL form: `http(s)://<access key>:<secret>@host:port[?region=us-east-1]`.
 */
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { TenancyError } from '../../errors.js';
import {
  bucketNotEmpty,
  bucketNotFound,
  objectStoreError,
  validateBucket,
  validateObjectKey,
  type ObjectInfo,
  type ObjectPage,
  type ObjectStore,
  type StoredObject,
} from './object-store.js';

/** Parse `TENANCY_S3_URL`; a bad URL is a clear configuration error. */
export function parseS3Url(url: string): {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
} {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TenancyError(
      'invalid_config',
      'invalid configuration: TENANCY_S3_URL must be a URL such as http://KEY:SECRET@127.0.0.1:9000',
    );
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.username || !u.password) {
    throw new TenancyError(
      'invalid_config',
      'invalid configuration: TENANCY_S3_URL must be http(s)://KEY:SECRET@host:port',
    );
  }
  return {
    endpoint: `${u.protocol}//${u.host}`,
    region: u.searchParams.get('region') ?? 'us-east-1',
    accessKeyId: decodeURIComponent(u.username),
    secretAccessKey: decodeURIComponent(u.password),
  };
}

function code(error: unknown): string | undefined {
  if (error instanceof S3ServiceException) return error.name;
  return (error as { name?: string; Code?: string }).Code ?? (error as { name?: string }).name;
}

/** Objects on an S3-protocol service. */
export class S3ObjectStore implements ObjectStore {
  readonly engine = 's3' as const;
  readonly #client: S3Client;

  constructor(url: string) {
    const c = parseS3Url(url);
    this.#client = new S3Client({
      endpoint: c.endpoint,
      region: c.region,
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
      forcePathStyle: true,
      maxAttempts: 2,
      // A server that stops answering fails the call instead of hanging it.
      requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
      // Plain checksums keep the requests valid for every S3-compatible server.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async #send<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof TenancyError) throw error;
      throw objectStoreError(operation, error);
    }
  }

  async ensureBucket(bucket: string): Promise<void> {
    validateBucket(bucket);
    await this.#send('create bucket', async () => {
      try {
        await this.#client.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        if (code(error) !== 'BucketAlreadyOwnedByYou' && code(error) !== 'BucketAlreadyExists') throw error;
      }
    });
  }

  async bucketExists(bucket: string): Promise<boolean> {
    validateBucket(bucket);
    return this.#send('head bucket', async () => {
      try {
        await this.#client.send(new HeadBucketCommand({ Bucket: bucket }));
        return true;
      } catch (error) {
        if (
          code(error) === 'NotFound' ||
          code(error) === 'NoSuchBucket' ||
          (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
        )
          return false;
        throw error;
      }
    });
  }

  async removeBucket(bucket: string, options: { force?: boolean } = {}): Promise<void> {
    if (!(await this.bucketExists(bucket))) return;
    if (options.force) await this.deletePrefix(bucket, '');
    await this.#send('delete bucket', async () => {
      try {
        await this.#client.send(new DeleteBucketCommand({ Bucket: bucket }));
      } catch (error) {
        if (code(error) === 'NoSuchBucket') return;
        if (code(error) === 'BucketNotEmpty') throw bucketNotEmpty(bucket);
        throw error;
      }
    });
  }

  async put(bucket: string, key: string, body: Buffer, options: { contentType?: string } = {}): Promise<ObjectInfo> {
    validateBucket(bucket);
    validateObjectKey(key);
    const contentType = options.contentType ?? 'application/octet-stream';
    return this.#send('put', async () => {
      try {
        const res = await this.#client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentType: contentType,
            ContentMD5: createHash('md5').update(body).digest('base64'),
          }),
        );
        return { key, size: body.length, etag: res.ETag ?? '', contentType };
      } catch (error) {
        if (code(error) === 'NoSuchBucket') throw bucketNotFound(bucket);
        throw error;
      }
    });
  }

  async get(bucket: string, key: string): Promise<StoredObject | undefined> {
    validateBucket(bucket);
    validateObjectKey(key);
    return this.#send('get', async () => {
      try {
        const res = await this.#client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const body = Buffer.from(await res.Body!.transformToByteArray());
        return {
          key,
          body,
          size: body.length,
          etag: res.ETag ?? '',
          contentType: res.ContentType ?? 'application/octet-stream',
        };
      } catch (error) {
        if (code(error) === 'NoSuchKey') return undefined;
        if (code(error) === 'NoSuchBucket') throw bucketNotFound(bucket);
        throw error;
      }
    });
  }

  async delete(bucket: string, key: string): Promise<void> {
    validateBucket(bucket);
    validateObjectKey(key);
    await this.#send('delete', () => this.#client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
  }

  async list(bucket: string, options: { prefix?: string; after?: string; limit?: number } = {}): Promise<ObjectPage> {
    validateBucket(bucket);
    const limit = Math.min(options.limit ?? 1000, 1000);
    return this.#send('list', async () => {
      try {
        // ListObjects (v1) with Marker: supported by every S3-compatible server, and
        // "after a key" is exactly the cursor this port exposes.
        const res = await this.#client.send(
          new ListObjectsCommand({ Bucket: bucket, Prefix: options.prefix, Marker: options.after, MaxKeys: limit }),
        );
        const items = (res.Contents ?? []).map((o) => ({
          key: o.Key!,
          size: o.Size ?? 0,
          etag: o.ETag ?? '',
          contentType: 'application/octet-stream',
        }));
        return { items, next: res.IsTruncated && items.length > 0 ? items[items.length - 1]!.key : null };
      } catch (error) {
        if (code(error) === 'NoSuchBucket') return { items: [], next: null };
        throw error;
      }
    });
  }

  async deletePrefix(bucket: string, prefix: string): Promise<number> {
    let deleted = 0;
    for (;;) {
      const page = await this.list(bucket, { prefix, limit: 1000 });
      if (page.items.length === 0) return deleted;
      await this.#send('delete objects', () =>
        this.#client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: page.items.map((o) => ({ Key: o.key })), Quiet: true },
          }),
        ),
      );
      deleted += page.items.length;
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}
