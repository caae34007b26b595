/**
 * Idempotent replays keep secrets out of the store: an API key's token, a webhook's signing
 * secret and an access token created with an Idempotency-Key are replayed whole to a client
 * that lost the response, yet appear nowhere in the stored row (nor in any base64 reading of
 * it). A tenant's replays are sealed with its own key, so crypto-shredding it makes them
 * unreadable, which is answered with a 409, not a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, startTestPlane, type EngineName, type TestPlane } from './support/engines.js';
import { call, createActive, expectProblem, tenantKey, waitForPhase } from './support/http.js';

describe.each(engines())('idempotent replays on %s', (engine: EngineName) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(engine, { env: { TENANCY_WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32' } });
    await createActive(plane, 'idem-a', { config: { retentionDays: 0 } });
  });
  afterAll(async () => {
    await plane?.stop();
  });

  /** The stored row for an Idempotency-Key. */
  async function storedRow(key: string): Promise<Record<string, unknown>> {
    const rows = await plane.database.db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).execute();
    expect(rows).toHaveLength(1);
    return rows[0] as unknown as Record<string, unknown>;
  }

  /** `secret` is nowhere in the row: not in its text, and not in any base64 or base64url run decoded. */
  function expectNowhere(row: Record<string, unknown>, secret: string): void {
    expect(secret.length).toBeGreaterThan(16);
    const text = JSON.stringify(row);
    const probes = [secret, secret.slice(-16)];
    for (const probe of probes) expect(text).not.toContain(probe);
    for (const m of text.matchAll(/[A-Za-z0-9+/_-]{16,}={0,2}/g)) {
      for (const decoded of [
        Buffer.from(m[0], 'base64').toString('latin1'),
        Buffer.from(m[0], 'base64url').toString('latin1'),
      ]) {
        for (const probe of probes) expect(decoded).not.toContain(probe);
      }
    }
  }

  /** POST twice with one Idempotency-Key: the second is a replay of the first, secret included. */
  async function twice(path: string, body: unknown, key: string, options: { token?: string } = {}) {
    const headers = { 'idempotency-key': key };
    const first = await call(plane, 'POST', path, body, { headers, ...options });
    expect(first.statusCode, first.body).toBeGreaterThanOrEqual(200);
    expect(first.statusCode).toBeLessThan(300);
    const again = await call(plane, 'POST', path, body, { headers, ...options });
    expect(again.statusCode).toBe(first.statusCode);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    return first.json();
  }

  it("stores a tenant API key's creation sealed, and replays the same token", async () => {
    const created = await twice('/v1/tenants/idem-a/api-keys', { name: 'ci', role: 'admin' }, `tenant-key-${engine}`);
    expect(created.token).toEqual(expect.any(String));
    const row = await storedRow(`tenant-key-${engine}`);
    expectNowhere(row, created.token);
    expect(row.tenant_id).toBe('idem-a');
    // The replayed token works.
    expect((await call(plane, 'GET', '/v1/tenants/idem-a', undefined, { token: created.token })).statusCode).toBe(200);
  });

  it("stores a platform API key's creation sealed with the platform key, and replays the same token", async () => {
    const created = await twice('/v1/api-keys', { name: 'ops', role: 'platform-operator' }, `platform-key-${engine}`);
    const row = await storedRow(`platform-key-${engine}`);
    expectNowhere(row, created.token);
    expect(row.tenant_id).toBeNull();
  });

  it('stores webhook creation and secret rotation sealed, and replays the same secrets', async () => {
    const hook = await twice(
      '/v1/webhooks',
      { url: 'http://127.0.0.1:9/hook', tenantId: 'idem-a', enabled: false },
      `webhook-${engine}`,
    );
    expect(hook.secret).toMatch(/^whsec_/);
    const row = await storedRow(`webhook-${engine}`);
    expectNowhere(row, hook.secret);
    expect(row.tenant_id).toBe('idem-a');
    const platformHook = await twice(
      '/v1/webhooks',
      { url: 'http://127.0.0.1:9/platform', enabled: false },
      `webhook-platform-${engine}`,
    );
    expectNowhere(await storedRow(`webhook-platform-${engine}`), platformHook.secret);
    const rotated = await twice(`/v1/webhooks/${hook.id}/rotate-secret`, {}, `rotate-${engine}`);
    expect(rotated.secret).not.toBe(hook.secret);
    expectNowhere(await storedRow(`rotate-${engine}`), rotated.secret);
  });

  it('stores an access token sealed under the caller tenant, and replays it', async () => {
    const key = await tenantKey(plane, 'idem-a', 'viewer');
    const issued = await twice('/v1/tokens', {}, `token-${engine}`, { token: key.token });
    const row = await storedRow(`token-${engine}`);
    expectNowhere(row, issued.token);
    expect(row.tenant_id).toBe('idem-a');
  });

  it('answers 409 for a replay whose tenant was crypto-shredded, and runs nothing again', async () => {
    await createActive(plane, 'idem-gone', { config: { retentionDays: 0 } });
    const body = { name: 'doomed', role: 'viewer' };
    const headers = { 'idempotency-key': `shred-${engine}` };
    const first = await call(plane, 'POST', '/v1/tenants/idem-gone/api-keys', body, { headers });
    expect(first.statusCode).toBe(201);
    await call(plane, 'DELETE', '/v1/tenants/idem-gone');
    await waitForPhase(plane, 'idem-gone', 'deleted', 15_000);
    await plane.controller.idle();
    const keys = await plane.database.db
      .selectFrom('tenant_keys')
      .select('state')
      .where('tenant_id', '=', 'idem-gone')
      .execute();
    expect(keys.map((k) => k.state)).toEqual(['destroyed']);
    const keysBefore = await plane.database.db
      .selectFrom('api_keys')
      .select('id')
      .where('tenant_id', '=', 'idem-gone')
      .execute();
    const replay = expectProblem(
      await call(plane, 'POST', '/v1/tenants/idem-gone/api-keys', body, { headers }),
      409,
      'idempotency_replay_unavailable',
    );
    expect(
      await plane.database.db.selectFrom('api_keys').select('id').where('tenant_id', '=', 'idem-gone').execute(),
    ).toEqual(keysBefore);
    expect(replay.detail).toContain('the keys of tenant idem-gone were destroyed');
    expectNowhere(await storedRow(`shred-${engine}`), first.json().token);
  });

  it('answers 409 for a stored response that was moved to another row', async () => {
    const a = await twice('/v1/tenants/idem-a/api-keys', { name: 'one', role: 'viewer' }, `moved-a-${engine}`);
    await twice('/v1/tenants/idem-a/api-keys', { name: 'two', role: 'viewer' }, `moved-b-${engine}`);
    const source = await storedRow(`moved-a-${engine}`);
    await plane.database.db
      .updateTable('idempotency_keys')
      .set({ response_ciphertext: String(source.response_ciphertext) })
      .where('key', '=', `moved-b-${engine}`)
      .execute();
    const replay = await call(
      plane,
      'POST',
      '/v1/tenants/idem-a/api-keys',
      { name: 'two', role: 'viewer' },
      { headers: { 'idempotency-key': `moved-b-${engine}` } },
    );
    expectProblem(replay, 409, 'idempotency_replay_unavailable');
    expect(replay.body).not.toContain(a.token);
  });
});
