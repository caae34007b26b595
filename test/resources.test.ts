/**
 * Provisioning makes a tenant's object prefix or bucket and its queue stream and consumer
 * real, purge removes them, and a failing engine leaves the tenant `provisioning` with a
 * `Degraded` condition until the step succeeds. Runs on the default engines (files and
 * the store-backed queue) on PGlite and PostgreSQL, and on the S3 protocol (s3rver) with
 * NATS JetStream.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX_MARKER } from '../src/isolation/index.js';
import { engines, startTestPlane, type EngineName, type TestPlane } from './support/engines.js';
import { call, createActive, waitForPhase } from './support/http.js';

const NATS_URL = process.env.TENANCY_TEST_NATS_URL;

type Setup = {
  name: string;
  engine: EngineName;
  env: () => Promise<{ env: Record<string, string>; stop: () => Promise<void> }>;
};

const setups: Setup[] = engines().map((engine) => ({
  name: `${engine}, files, store-backed queue`,
  engine,
  env: async () => ({ env: {}, stop: async () => undefined }),
}));
if (NATS_URL) {
  setups.push({
    name: 'pglite, S3 protocol, NATS JetStream',
    engine: 'pglite',
    env: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tenancy-s3-'));
      const server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true });
      const { port } = await server.run();
      return {
        env: { TENANCY_S3_URL: `http://S3RVER:S3RVER@127.0.0.1:${port}`, TENANCY_NATS_URL: NATS_URL },
        async stop() {
          await server.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  });
}

describe.each(setups)('tenant resources ($name)', ({ engine, env }) => {
  let plane: TestPlane;
  let stopEnv: () => Promise<void>;
  const tag = Math.random().toString(36).slice(2, 7);
  const shared = `res-${tag}`;
  const dedicated = `ded-${tag}`;

  beforeAll(async () => {
    const e = await env();
    stopEnv = e.stop;
    plane = await startTestPlane(engine, { env: e.env });
  });
  afterAll(async () => {
    for (const id of [shared, dedicated]) await plane?.queue.removeStream(`jobs-${id}`).catch(() => undefined);
    await plane?.stop();
    await stopEnv?.();
  });

  it('provisions a shared tenant into the shared bucket and stream', async () => {
    await createActive(plane, shared, { config: { retentionDays: 0 } });
    expect(await plane.objects.get('shared', `tenants/${shared}/${PREFIX_MARKER}`)).toBeDefined();
    await plane.queue.publish(`jobs.${shared}`, Buffer.from('job-1'));
    const got = await plane.queue.fetch('jobs', shared, 5, 1000);
    expect(got.map((m) => m.data.toString())).toEqual(['job-1']);
    for (const m of got) await m.ack();
  });

  it("stops a suspended tenant's queue consumption (jobs stay queued) and resumes it", async () => {
    await call(plane, 'POST', `/v1/tenants/${shared}/suspend`, { reason: 'queue test' });
    await waitForPhase(plane, shared, 'suspended');
    await plane.controller.idle();
    expect(await plane.queue.consumerPaused('jobs', shared)).toBe(true);
    await plane.queue.publish(`jobs.${shared}`, Buffer.from('while-suspended'));
    expect(await plane.queue.fetch('jobs', shared, 5, 1000)).toEqual([]);
    await call(plane, 'POST', `/v1/tenants/${shared}/resume`, {});
    await waitForPhase(plane, shared, 'active');
    await plane.controller.idle();
    const got = await plane.queue.fetch('jobs', shared, 5, 1000);
    expect(got.map((m) => m.data.toString())).toEqual(['while-suspended']);
    for (const m of got) await m.ack();
  });

  it('provisions a dedicated tenant with its own bucket and stream', async () => {
    await createActive(plane, dedicated, { profile: 'st-dedicated', config: { retentionDays: 0 } });
    expect(await plane.objects.bucketExists(`data-${dedicated}`)).toBe(true);
    expect(await plane.queue.streamExists(`jobs-${dedicated}`)).toBe(true);
    const res = (await call(plane, 'GET', `/v1/tenants/${dedicated}/resources`)).json();
    expect(res).toMatchObject({ strategy: 'dedicated', objects: { bucket: `data-${dedicated}` } });
  });

  it('removes them when the tenant is purged', async () => {
    await plane.objects.put('shared', `tenants/${shared}/reports/1.csv`, Buffer.from('x'));
    for (const id of [shared, dedicated]) {
      await call(plane, 'DELETE', `/v1/tenants/${id}`);
      await waitForPhase(plane, id, 'deleted');
    }
    await plane.controller.idle();
    expect((await plane.objects.list('shared', { prefix: `tenants/${shared}/` })).items).toEqual([]);
    expect(await plane.objects.bucketExists(`data-${dedicated}`)).toBe(false);
    expect(await plane.queue.streamExists(`jobs-${dedicated}`)).toBe(false);
    await expect(plane.queue.fetch('jobs', shared, 1, 1000)).rejects.toMatchObject({ code: 'consumer_not_found' });
  });
});

describe('a failing resource step', () => {
  it('keeps the tenant provisioning with a Degraded condition, then heals', async () => {
    const plane = await startTestPlane('pglite');
    try {
      // The audit anchors already made the objects folder at start: a file in its place breaks the store.
      await rm(join(plane.dataDir, 'objects'), { recursive: true, force: true });
      await writeFile(join(plane.dataDir, 'objects'), 'not a directory');
      const res = await call(plane, 'POST', '/v1/tenants', {
        apiVersion: 'tenancy/v1',
        kind: 'Tenant',
        metadata: { id: 'blocked' },
        spec: { name: 'Blocked', plan: 'free' },
      });
      expect(res.statusCode).toBe(201);
      let t: any;
      for (let i = 0; i < 100; i++) {
        await plane.controller.idle();
        t = (await call(plane, 'GET', '/v1/tenants/blocked')).json();
        if (t.status.conditions.some((c: any) => c.type === 'Degraded')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(t.status.phase).toBe('provisioning');
      expect(t.status.conditions).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'Degraded', status: 'True', reason: 'ResourceStepFailed' }),
        ]),
      );
      await rm(join(plane.dataDir, 'objects'));
      await new Promise((r) => setTimeout(r, 600));
      await plane.controller.resync();
      const healed = await waitForPhase(plane, 'blocked', 'active', 15_000);
      expect(healed.status.conditions.map((c: any) => c.type)).toEqual(['Ready']);
    } finally {
      await plane.stop();
    }
  }, 60_000);
});
