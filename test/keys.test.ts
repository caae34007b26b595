/**
 * Per-tenant keys and secrets on every engine: encryption at rest, versions, rotation,
 * rewrap and retire, root-key checks and rotation, and crypto-shredding that leaves a
 * purged tenant's data undecryptable even with the root key and database access.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startControlPlane } from '../src/control-plane.js';
import { LocalKeyRing, rootKeyFrom } from '../src/keys/index.js';
import { engines, startTestPlane, type TestPlane } from './support/engines.js';
import { call, countRows, createActive, expectProblem, tenantKey, waitForPhase } from './support/http.js';

describe.each(engines())('keys and secrets on %s', (engine) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(engine);
    await createActive(plane, 'vault-a');
    await createActive(plane, 'vault-b');
  });
  afterAll(async () => {
    await plane?.stop();
  });

  it('gives every tenant its own key on provisioning', async () => {
    const keys = (await call(plane, 'GET', '/v1/tenants/vault-a/keys')).json().items;
    expect(keys).toEqual([expect.objectContaining({ keyId: 'tenant/vault-a/v1', version: 1, state: 'active' })]);
    expect(JSON.stringify(keys)).not.toMatch(/wrapped|material/);
  });

  it('stores secrets encrypted, versioned, and never echoes values outside a read', async () => {
    const put = await call(
      plane,
      'PUT',
      '/v1/tenants/vault-a/secrets/db.password',
      { value: 'hunter2-correct-horse', rotationPeriodDays: 30 },
      { headers: { 'x-request-id': 'put-secret-1' } },
    );
    expect(put.statusCode, put.body).toBe(201);
    expect(put.json()).toMatchObject({ name: 'db.password', version: 1, keyVersion: 1, rotationPeriodDays: 30 });
    expect(put.body).not.toContain('hunter2');
    const second = await call(plane, 'PUT', '/v1/tenants/vault-a/secrets/db.password', { value: 'second-value' });
    expect(second.statusCode).toBe(200);
    expect(second.json().version).toBe(2);
    const rows = await plane.database.db
      .selectFrom('tenant_secrets')
      .selectAll()
      .where('tenant_id', '=', 'vault-a')
      .execute();
    for (const r of rows) expect(r.ciphertext).toMatch(/^tnc:v1:[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(rows)).not.toMatch(/hunter2|second-value/);
    const latest = await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password', undefined, {
      headers: { 'x-request-id': 'read-secret-1' },
    });
    expect(latest.json()).toMatchObject({ name: 'db.password', version: 2, value: 'second-value' });
    expect(latest.headers['cache-control']).toBe('no-store');
    expect((await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password?version=1')).json().value).toBe(
      'hunter2-correct-horse',
    );
    const list = (await call(plane, 'GET', '/v1/tenants/vault-a/secrets')).json().items;
    expect(list).toEqual([expect.objectContaining({ name: 'db.password', latestVersion: 2, versions: [1, 2] })]);
    expect(JSON.stringify(list)).not.toMatch(/hunter2|second-value/);
    const audit = (await call(plane, 'GET', '/v1/audit?tenant=vault-a&limit=1000')).json().items;
    const read = audit.find((r: any) => r.action === 'secret.read' && r.correlationId === 'read-secret-1');
    expect(read).toMatchObject({
      actor: expect.stringMatching(/^apikey:/),
      details: { name: 'db.password', version: 2 },
    });
    const events = await plane.database.db
      .selectFrom('outbox')
      .select('payload')
      .where('tenant_id', '=', 'vault-a')
      .execute();
    expect(JSON.stringify([audit, events])).not.toMatch(/hunter2|second-value/);
  });

  it('lets operators read but not write, and keeps other tenants out', async () => {
    const operator = await tenantKey(plane, 'vault-a', 'operator');
    expect(
      (await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password', undefined, { token: operator.token }))
        .statusCode,
    ).toBe(200);
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/vault-a/secrets/x', { value: 'v' }, { token: operator.token }),
      403,
      'forbidden',
    );
    const viewer = await tenantKey(plane, 'vault-a', 'viewer');
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password', undefined, { token: viewer.token }),
      403,
      'forbidden',
    );
    const other = await tenantKey(plane, 'vault-b', 'owner');
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password', undefined, { token: other.token }),
      404,
      'tenant_not_found',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/vault-b/secrets/db.password', undefined, { token: other.token }),
      404,
      'secret_not_found',
    );
  });

  it("never decrypts one tenant's ciphertext as another tenant's or for another purpose", async () => {
    const row = await plane.database.db
      .selectFrom('tenant_secrets')
      .select('ciphertext')
      .where('tenant_id', '=', 'vault-a')
      .executeTakeFirstOrThrow();
    await expect(plane.keyRing.decrypt('vault-b', 'secret', row.ciphertext)).rejects.toMatchObject({
      code: 'decryption_failed',
    });
    await expect(plane.keyRing.decrypt('vault-a', 'object', row.ciphertext)).rejects.toMatchObject({
      code: 'decryption_failed',
    });
    expect((await plane.keyRing.decrypt('vault-a', 'secret', row.ciphertext)).length).toBeGreaterThan(0);
    // Moving the ciphertext into the other tenant's rows does not make it readable there.
    await plane.database.db
      .insertInto('tenant_secrets')
      .values({
        tenant_id: 'vault-b',
        name: 'moved',
        version: 1,
        ciphertext: row.ciphertext,
        key_version: 1,
        rotation_period_days: null,
        rotation_notified_at: null,
        created_at: new Date().toISOString(),
        created_by: 'test',
      })
      .execute();
    expectProblem(await call(plane, 'GET', '/v1/tenants/vault-b/secrets/moved'), 409, 'secret_undecryptable');
    await plane.database.db
      .deleteFrom('tenant_secrets')
      .where('tenant_id', '=', 'vault-b')
      .where('name', '=', 'moved')
      .execute();
  });

  it('rotates keys, keeps old versions readable, rewraps and then retires them', async () => {
    await call(plane, 'PUT', '/v1/tenants/vault-b/secrets/api-token', { value: 'old-key-value' });
    const rotated = await call(plane, 'POST', '/v1/tenants/vault-b/keys/rotate', {});
    expect(rotated.json()).toEqual({ version: 2 });
    await call(plane, 'PUT', '/v1/tenants/vault-b/secrets/webhook', { value: 'new-key-value' });
    const states = (await call(plane, 'GET', '/v1/tenants/vault-b/keys'))
      .json()
      .items.map((k: any) => `${k.version}:${k.state}`);
    expect(states).toEqual(['1:decrypt-only', '2:active']);
    expect((await call(plane, 'GET', '/v1/tenants/vault-b/secrets/api-token')).json()).toMatchObject({
      value: 'old-key-value',
      keyVersion: 1,
    });
    expect((await call(plane, 'GET', '/v1/tenants/vault-b/secrets/webhook')).json()).toMatchObject({
      value: 'new-key-value',
      keyVersion: 2,
    });
    const oldCiphertext = (
      await plane.database.db
        .selectFrom('tenant_secrets')
        .select('ciphertext')
        .where('tenant_id', '=', 'vault-b')
        .where('name', '=', 'api-token')
        .executeTakeFirstOrThrow()
    ).ciphertext;
    const rewrap = (await call(plane, 'POST', '/v1/tenants/vault-b/keys/rewrap', {})).json();
    expect(rewrap).toEqual({ rewrapped: 1, keyVersion: 2 });
    expect((await call(plane, 'POST', '/v1/tenants/vault-b/keys/retire', { minVersion: 2 })).json()).toEqual({
      retired: 1,
    });
    expect((await call(plane, 'GET', '/v1/tenants/vault-b/secrets/api-token')).json()).toMatchObject({
      value: 'old-key-value',
      keyVersion: 2,
    });
    await expect(plane.keyRing.decrypt('vault-b', 'secret', oldCiphertext)).rejects.toMatchObject({
      code: 'key_version_retired',
    });
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/vault-b/keys/retire', { minVersion: 9 }),
      409,
      'key_version_not_found',
    );
  });

  it('rotates keys on schedule and announces secrets due for rotation', async () => {
    await createActive(plane, 'vault-sched', { config: { keyRotationDays: 1 } });
    await call(plane, 'PUT', '/v1/tenants/vault-sched/secrets/rotating', { value: 'v', rotationPeriodDays: 1 });
    await sql`update tenant_keys set created_at = now() - interval '2 days' where tenant_id = 'vault-sched'`.execute(
      plane.database.db,
    );
    await sql`update tenant_secrets set created_at = now() - interval '2 days' where tenant_id = 'vault-sched'`.execute(
      plane.database.db,
    );
    await plane.controller.resync();
    await plane.controller.idle();
    const versions = (await call(plane, 'GET', '/v1/tenants/vault-sched/keys')).json().items;
    expect(versions.map((k: any) => k.state)).toEqual(['decrypt-only', 'active']);
    const events = await plane.database.db
      .selectFrom('outbox')
      .select(['type', 'payload'])
      .where('tenant_id', '=', 'vault-sched')
      .execute();
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['tenant.key_rotated', 'secret.rotation_due']));
    await plane.controller.resync();
    const again = await plane.database.db
      .selectFrom('outbox')
      .select('type')
      .where('tenant_id', '=', 'vault-sched')
      .where('type', '=', 'secret.rotation_due')
      .execute();
    expect(again).toHaveLength(1);
  });

  it('answers bad input with 4xx and changes nothing', async () => {
    const before = await countRows(plane, 'tenant_secrets' as never);
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/vault-a/secrets/Bad_Name', { value: 'v' }),
      400,
      'invalid_secret_name',
    );
    expectProblem(
      await call(plane, 'PUT', `/v1/tenants/vault-a/secrets/${'a'.repeat(129)}`, { value: 'v' }),
      400,
      'invalid_secret_name',
    );
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/vault-a/secrets/ok', { value: 'x'.repeat(64 * 1024 + 1) }),
      400,
      'validation_failed',
    );
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/vault-a/secrets/ok', { value: 'é'.repeat(40 * 1024) }),
      413,
      'secret_too_large',
    );
    expectProblem(await call(plane, 'PUT', '/v1/tenants/vault-a/secrets/ok', { value: 5 }), 400, 'validation_failed');
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/vault-a/secrets/ok', { value: 'v', owner: 'me' }),
      400,
      'validation_failed',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password?version=zero'),
      400,
      'invalid_query',
    );
    expectProblem(
      await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password?version=99'),
      404,
      'secret_not_found',
    );
    expectProblem(
      await call(plane, 'POST', '/v1/tenants/vault-a/keys/retire', { minVersion: 'all' }),
      400,
      'validation_failed',
    );
    expect(await countRows(plane, 'tenant_secrets' as never)).toBe(before);
  });

  it('crypto-shreds a purged tenant: nothing of it decrypts, even with the root key and the database', async () => {
    await createActive(plane, 'shredded', { config: { retentionDays: 0 } });
    await call(plane, 'PUT', '/v1/tenants/shredded/secrets/keep-me', { value: 'top secret' });
    const ciphertext = (
      await plane.database.db
        .selectFrom('tenant_secrets')
        .select('ciphertext')
        .where('tenant_id', '=', 'shredded')
        .executeTakeFirstOrThrow()
    ).ciphertext;
    await call(plane, 'DELETE', '/v1/tenants/shredded');
    await waitForPhase(plane, 'shredded', 'deleted');
    await plane.controller.idle();
    const keys = await plane.database.db
      .selectFrom('tenant_keys')
      .selectAll()
      .where('tenant_id', '=', 'shredded')
      .execute();
    expect(keys.map((k) => [k.state, k.wrapped_key])).toEqual([['destroyed', null]]);
    await expect(plane.keyRing.decrypt('shredded', 'secret', ciphertext)).rejects.toMatchObject({
      code: 'tenant_keys_destroyed',
    });
    // A fresh key ring with the same root key and database (the platform admin's view) cannot either.
    const rootKey = rootKeyFrom(
      Buffer.from((await readFile(join(plane.dataDir, 'root.key'), 'utf8')).trim(), 'base64'),
    );
    const fresh = await LocalKeyRing.open(plane.database.db, rootKey);
    await expect(fresh.decrypt('shredded', 'secret', ciphertext)).rejects.toMatchObject({
      code: 'tenant_keys_destroyed',
    });
    const shred = (await call(plane, 'GET', '/v1/audit?tenant=shredded&action=tenant.keys.shred')).json().items;
    expect(shred).toEqual([
      expect.objectContaining({ actor: 'system:controller', details: { keyIds: ['tenant/shredded/v1'] } }),
    ]);
    expectProblem(await call(plane, 'POST', '/v1/tenants/shredded/keys/rotate', {}), 409, 'tenant_deleted');
    expectProblem(
      await call(plane, 'PUT', '/v1/tenants/shredded/secrets/again', { value: 'v' }),
      409,
      'tenant_deleted',
    );
  });

  it('rotates the root key without touching data, and refuses a wrong root key at start', async () => {
    const before = (await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password')).json().value;
    const oldRoot = (await readFile(join(plane.dataDir, 'root.key'), 'utf8')).trim();
    const ciphertexts = await plane.database.db
      .selectFrom('tenant_secrets')
      .select('ciphertext')
      .orderBy('tenant_id')
      .orderBy('name')
      .orderBy('version')
      .execute();
    const rotated = await call(plane, 'POST', '/v1/root-key/rotate', {});
    expect(rotated.statusCode, rotated.body).toBe(200);
    expect(rotated.json().rewrapped).toBeGreaterThan(0);
    const newRoot = (await readFile(join(plane.dataDir, 'root.key'), 'utf8')).trim();
    expect(newRoot).not.toBe(oldRoot);
    expect(
      await plane.database.db
        .selectFrom('tenant_secrets')
        .select('ciphertext')
        .orderBy('tenant_id')
        .orderBy('name')
        .orderBy('version')
        .execute(),
    ).toEqual(ciphertexts);
    expect((await call(plane, 'GET', '/v1/tenants/vault-a/secrets/db.password')).json().value).toBe(before);
    await expect(
      LocalKeyRing.open(plane.database.db, rootKeyFrom(Buffer.from(oldRoot, 'base64'))),
    ).rejects.toMatchObject({ code: 'root_key_mismatch' });
    const fresh = await LocalKeyRing.open(plane.database.db, rootKeyFrom(Buffer.from(newRoot, 'base64')));
    const row = await plane.database.db
      .selectFrom('tenant_secrets')
      .select('ciphertext')
      .where('tenant_id', '=', 'vault-a')
      .where('name', '=', 'db.password')
      .where('version', '=', 2)
      .executeTakeFirstOrThrow();
    expect((await fresh.decrypt('vault-a', 'secret', row.ciphertext)).toString()).toBe(before);
  });
});

describe('root key configuration', () => {
  it('refuses to start without the configured root key file, or with a malformed key', async () => {
    const plane = await startTestPlane('pglite');
    const wrongFile = join(plane.dataDir, 'wrong.key');
    await writeFile(wrongFile, 'not-a-key\n');
    await plane.stop();
    const config = (env: Record<string, string>) =>
      loadConfig(
        { port: '0', dataDir: `${plane.dataDir}-x` },
        { TENANCY_ADMIN_TOKEN: 'test-admin-token-0123456789abcdef', TENANCY_LOG_LEVEL: 'silent', ...env },
      );
    await expect(
      startControlPlane(config({ TENANCY_ROOT_KEY_FILE: '/nonexistent/root.key' }), { inMemory: true, listen: false }),
    ).rejects.toMatchObject({ code: 'root_key_missing' });
    expect(() => config({ TENANCY_ROOT_KEY: 'short' })).toThrow('TENANCY_ROOT_KEY must be the base64 of 32 bytes');
  });
});
