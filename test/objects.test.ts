/**
 * The object-store port on the local filesystem and on the S3 protocol (an S3-protocol
 * server, s3rver, started on 127.0.0.1 on a port the OS picks).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { describe, expect, it } from 'vitest';
import { FsObjectStore, S3ObjectStore, connectObjectStore, parseS3Url } from '../src/infra/objects/index.js';
import { runObjectStoreSuite } from './support/object-store-suite.js';

runObjectStoreSuite('filesystem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tenancy-objects-'));
  return { store: new FsObjectStore(dir), stop: () => rm(dir, { recursive: true, force: true }) };
});

runObjectStoreSuite('S3 protocol (s3rver)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tenancy-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true });
  const { port } = await server.run();
  const store = new S3ObjectStore(`http://S3RVER:S3RVER@127.0.0.1:${port}`);
  return {
    store,
    async stop() {
      await store.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('object store configuration', () => {
  it('picks the engine from TENANCY_S3_URL and refuses malformed URLs', () => {
    expect(connectObjectStore({ dataDir: '/tmp/x' }).engine).toBe('fs');
    expect(connectObjectStore({ dataDir: '/tmp/x', s3Url: 'http://k:s@127.0.0.1:9000' }).engine).toBe('s3');
    expect(parseS3Url('https://AK%2B:se%2Fcret@s3.example:443?region=eu-west-1')).toEqual({
      endpoint: 'https://s3.example',
      region: 'eu-west-1',
      accessKeyId: 'AK+',
      secretAccessKey: 'se/cret',
    });
    expect(() => parseS3Url('s3://bucket')).toThrow('TENANCY_S3_URL must be http(s)://KEY:SECRET@host:port');
    expect(() => parseS3Url('not a url')).toThrow('TENANCY_S3_URL must be a URL');
  });

  it('reports an unreachable S3 endpoint as a clear error', async () => {
    const store = new S3ObjectStore('http://k:s@127.0.0.1:9');
    await expect(store.bucketExists('some-bucket')).rejects.toMatchObject({
      code: 'object_store_unavailable',
      status: 503,
    });
    await store.close();
  });
});
