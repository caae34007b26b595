/**
 * The model router end to end, through the official `openai` client against a control plane
 * listening on 127.0.0.1: answers, streams, embeddings and models; fallbacks, breakers per
 * tenant and model, retries; streams cut before and after the first byte; sovereignty
 * exclusion; budgets (exhaustion, threshold downgrade and deny, a runaway stream cut off, a
 * concurrent race); metering into the usage store; OpenAI-shaped errors for bad input.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { startFakeOpenAi, type FakeOpenAi } from './support/fake-openai.js';
import { call, createActive, tenantKey } from './support/http.js';

const REDIS_URL = process.env.TENANCY_TEST_REDIS_URL;
if (!PG_URL || !REDIS_URL)
  console.warn(
    '[tenancy tests] TENANCY_TEST_DATABASE_URL or TENANCY_TEST_REDIS_URL is not set: the model router replica suite is SKIPPED',
  );

const model = (name: string, upstreamModel: string, out = 2, extra: Record<string, unknown> = {}) => ({
  name,
  upstreamModel,
  inputUsdPerMTok: 0,
  outputUsdPerMTok: out,
  contextWindow: 8192,
  ...extra,
});

describe('model router', () => {
  let plane: TestPlane;
  let fake: FakeOpenAi;
  const keys: Record<string, string> = {};

  const apply = async (items: unknown[]) => {
    const res = await call(plane, 'POST', '/v1/apply', { items: items.map((manifest) => ({ manifest })) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const router = (tenant: string, spec: Record<string, unknown>) => ({
    apiVersion: 'tenancy/v1',
    kind: 'TenantRouter',
    metadata: { tenant },
    spec,
  });
  const client = (tenant: string) =>
    new OpenAI({ baseURL: `${plane.url}/v1/ai`, apiKey: keys[tenant]!, maxRetries: 0, timeout: 20_000 });
  const ask = (tenant: string, modelName: string, extra: Record<string, unknown> = {}) =>
    client(tenant)
      .chat.completions.create({
        model: modelName,
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 10,
        ...extra,
      } as never)
      .withResponse();
  const tenant = async (id: string, spec: Record<string, unknown>, docs: unknown[] = []) => {
    await createActive(plane, id, { region: 'eu-west-1' });
    await apply([router(id, spec), ...docs]);
    keys[id] = (await tenantKey(plane, id, 'operator')).token;
  };
  const status = async (id: string) => (await call(plane, 'GET', `/v1/tenants/${id}/router`)).json();

  beforeAll(async () => {
    fake = await startFakeOpenAi();
    plane = await startTestPlane('pglite', { listen: true, env: { TENANCY_ROUTER_ALLOW_PRIVATE: 'true' } });
    expect((await call(plane, 'PUT', '/v1/platform-secrets/fake-key', { value: 'sk-fake-provider' })).statusCode).toBe(
      201,
    );
    const provider = (name: string, region: string, models: unknown[], extra: Record<string, unknown> = {}) => ({
      apiVersion: 'tenancy/v1',
      kind: 'ModelProvider',
      metadata: { name },
      spec: {
        type: 'openai-compatible',
        baseUrl: fake.url,
        apiKeySecret: 'fake-key',
        region,
        timeoutMs: 800,
        models,
        ...extra,
      },
    });
    await apply([
      provider('fake', 'eu-west-1', [
        model('good', 'ok-good'),
        model('cheap', 'ok-cheap', 0.2),
        model('down', 'fail503'),
        model('flaky', 'flaky'),
        model('ratelimited', 'ratelimited'),
        model('garbage', 'garbage'),
        model('stall', 'stall'),
        model('cutbefore', 'cutbefore'),
        model('cutafter', 'cutafter'),
        model('stallafter', 'stallafter'),
        model('runaway', 'runaway', 1000),
        model('pricey', 'ok-pricey', 1000),
        model('tiny', 'ok-tiny', 2, { contextWindow: 32 }),
        model('embed', 'embed-1', 0, { kind: 'embedding', inputUsdPerMTok: 1 }),
      ]),
      provider('fake-us', 'us-east-1', [model('us-model', 'ok-us')]),
      provider('nokey', 'eu-west-1', [model('nokey-model', 'ok-nokey')], { apiKeySecret: 'never-written' }),
      {
        apiVersion: 'tenancy/v1',
        kind: 'ModelProvider',
        metadata: { name: 'mock' },
        spec: {
          type: 'mock',
          region: 'eu-west-1',
          mock: { latencyMs: 2_000 },
          models: [model('mock-pricey', 'mock-pricey', 1000)],
        },
      },
    ]);
    await tenant('t-basic', {
      primary: { model: 'good' },
      fallback: ['cheap'],
      routes: [{ match: { task: 'summarize' }, model: 'cheap' }],
      embeddings: { model: 'embed' },
    });
  }, 60_000);

  afterAll(async () => {
    await plane?.stop();
    await fake?.close();
  });

  it('answers through the official client, with the provider key and the upstream model name', async () => {
    const { data, response } = await ask('t-basic', 'good');
    expect(data.choices[0]!.message.content).toBe('answer from ok-good');
    expect(data.model).toBe('good');
    expect(response.headers.get('x-tenancy-model')).toBe('good');
    expect(response.headers.get('x-tenancy-fallback')).toBeNull();
    const sent = fake.requests.at(-1)!;
    expect(sent.authorization).toBe('Bearer sk-fake-provider');
    expect(sent.body).toMatchObject({ model: 'ok-good', max_tokens: 10 });
    expect(sent.body.metadata).toBeUndefined();
  });

  it('skips a provider whose key cannot be opened (the hold released), and reports an unchanged provider as unchanged', async () => {
    await tenant('t-nokey', { primary: { model: 'nokey-model' }, fallback: ['good'], budget: { dailyUsd: 5 } });
    const { data, response } = await ask('t-nokey', 'nokey-model');
    expect(data.model).toBe('good');
    expect(response.headers.get('x-tenancy-fallback')).toBe('true');
    expect(fake.count('ok-nokey')).toBe(0);
    expect((await status('t-nokey')).budget.windows[0].reservedUsd).toBe(0);
    const again = await call(plane, 'POST', '/v1/apply', {
      dryRun: true,
      items: [{ manifest: (await call(plane, 'GET', '/v1/model-providers/nokey')).json() }].map(({ manifest }) => ({
        manifest: {
          apiVersion: manifest.apiVersion,
          kind: manifest.kind,
          metadata: { name: manifest.metadata.name },
          spec: manifest.spec,
        },
      })),
    });
    expect(again.json().items).toEqual([{ kind: 'ModelProvider', name: 'nokey', action: 'unchanged' }]);
  });

  it('routes model "auto" by the request metadata, else to the primary', async () => {
    expect((await ask('t-basic', 'auto', { metadata: { task: 'summarize' } })).data.model).toBe('cheap');
    expect((await ask('t-basic', 'auto', { metadata: { task: 'other' } })).data.model).toBe('good');
  });

  it('streams server-sent events with usage, ending with [DONE]', async () => {
    const stream = await client('t-basic').chat.completions.create({
      model: 'good',
      messages: [{ role: 'user', content: 'Hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('w0 w1 w2 w3 w4 w5 w6 w7 w8 w9');
    expect(usage).toMatchObject({ completion_tokens: 10 });
  });

  it('lists the models the tenant may use and answers embeddings (floats and base64)', async () => {
    const models = (await client('t-basic').models.list()).data.map((m) => m.id);
    expect(models.sort()).toEqual(['cheap', 'embed', 'good']);
    const e = await client('t-basic').embeddings.create({ model: 'embed', input: ['a', 'b'] });
    expect(e.data).toHaveLength(2);
    expect(e.data[1]!.embedding).toEqual([1, 0, 0, 0, 0, 0, 0, 1]);
    const f = await client('t-basic').embeddings.create({ model: 'embed', input: 'a', encoding_format: 'float' });
    expect(f.data[0]!.embedding).toHaveLength(8);
  });

  it('answers bad input with OpenAI-shaped errors and calls no provider', async () => {
    const before = fake.requests.length;
    const err = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        return e as InstanceType<typeof OpenAI.APIError>;
      }
      throw new Error('expected an error');
    };
    const unknown = await err(ask('t-basic', 'gpt-nonexistent'));
    expect({ status: unknown.status, code: unknown.code }).toEqual({ status: 404, code: 'model_not_found' });
    expect((unknown.error as { type: string }).type).toBe('not_found_error');
    const noMessages = await err(ask('t-basic', 'good', { messages: [] }));
    expect({ status: noMessages.status, code: noMessages.code, param: noMessages.param }).toEqual({
      status: 400,
      code: 'validation_failed',
      param: 'messages',
    });
    const badRole = await err(ask('t-basic', 'good', { messages: [{ role: 'wizard', content: 'x' }] }));
    expect(badRole.param).toBe('messages[0].role');
    await apply([
      router('t-basic', {
        primary: { model: 'good' },
        fallback: ['cheap', 'tiny'],
        routes: [{ match: { task: 'summarize' }, model: 'cheap' }],
        embeddings: { model: 'embed' },
      }),
    ]);
    const wrongKind = await err(
      client('t-basic').embeddings.create({ model: 'good', input: 'x' }) as unknown as Promise<unknown>,
    );
    expect({ status: wrongKind.status, code: wrongKind.code }).toEqual({ status: 404, code: 'model_not_found' });
    expect(wrongKind.message).toContain('needs an embedding model');
    const tooLong = await err(ask('t-basic', 'tiny', { max_tokens: 100 }));
    expect({ status: tooLong.status, code: tooLong.code }).toEqual({ status: 400, code: 'context_length_exceeded' });
    const raw = await fetch(`${plane.url}/v1/ai/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys['t-basic']}`, 'content-type': 'application/json' },
      body: '{"model": ',
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    expect(fake.requests.length).toBe(before);
  });

  it('refuses a suspended tenant, a platform key without X-Tenant-ID, and another tenant named by a tenant key', async () => {
    await tenant('t-susp', { primary: { model: 'good' } });
    await call(plane, 'POST', '/v1/tenants/t-susp/suspend', { reason: 'test' });
    const res = await fetch(`${plane.url}/v1/ai/models`, { headers: { authorization: `Bearer ${keys['t-susp']}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('tenant_suspended');
    const platform = await call(plane, 'GET', '/v1/ai/models');
    expect(platform.statusCode).toBe(400);
    expect(platform.json().error).toMatchObject({ code: 'tenant_required', type: 'invalid_request_error' });
    const named = await call(plane, 'GET', '/v1/ai/models', undefined, { headers: { 'x-tenant-id': 't-basic' } });
    expect(named.statusCode).toBe(200);
    const foreign = await call(plane, 'GET', '/v1/ai/models', undefined, {
      token: keys['t-basic'],
      headers: { 'x-tenant-id': 't-susp' },
    });
    expect({ status: foreign.statusCode, code: foreign.json().error.code }).toEqual({
      status: 404,
      code: 'tenant_not_found',
    });
  });

  it('falls back, opens the breaker of this tenant and model only, and closes it after a good probe', async () => {
    const breaker = { minRequests: 2, windowSeconds: 30, cooldownSeconds: 1 };
    await tenant('t-fall', { primary: { model: 'flaky' }, fallback: ['good'], breaker });
    await tenant('t-other', { primary: { model: 'flaky' }, fallback: ['good'], breaker });
    const first = await ask('t-fall', 'flaky');
    expect(first.data.model).toBe('good');
    expect(first.response.headers.get('x-tenancy-fallback')).toBe('true');
    await ask('t-fall', 'flaky');
    const open = (await status('t-fall')).breakers.find((b: { model: string }) => b.model === 'flaky');
    expect(open.state).toBe('open');
    const calls = fake.count('flaky');
    expect((await ask('t-fall', 'flaky')).data.model).toBe('good');
    expect(fake.count('flaky')).toBe(calls);
    // Another tenant's breaker for the same model is its own, still closed.
    expect((await status('t-other')).breakers.find((b: { model: string }) => b.model === 'flaky')).toBeUndefined();
    expect((await ask('t-other', 'flaky')).data.model).toBe('good');
    expect(fake.count('flaky')).toBeGreaterThan(calls);
    fake.state.flaky = false;
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await ask('t-fall', 'flaky')).data.model).toBe('flaky');
    expect((await status('t-fall')).breakers.find((b: { model: string }) => b.model === 'flaky').state).toBe('closed');
  });

  it('retries a 429 honouring Retry-After, and answers garbage and stalls with 502 and 504 when nothing else can', async () => {
    await tenant('t-errs', { primary: { model: 'ratelimited' }, fallback: [] });
    const before = fake.count('ratelimited');
    expect((await ask('t-errs', 'ratelimited')).data.model).toBe('ratelimited');
    expect(fake.count('ratelimited')).toBe(before + 2);
    // Without limits, spend reaches the ledger within a second.
    await expect.poll(async () => (await status('t-errs')).budget.windows[0].spentUsd).toBe(0.000006);
    await apply([router('t-errs', { primary: { model: 'garbage' }, fallback: ['stall'] })]);
    await expect(ask('t-errs', 'garbage')).rejects.toMatchObject({ status: 504, code: 'upstream_timeout' });
    await apply([router('t-errs', { primary: { model: 'garbage' } })]);
    await expect(ask('t-errs', 'garbage')).rejects.toMatchObject({ status: 502, code: 'upstream_bad_response' });
    // Nothing was charged for answers that never came.
    await new Promise((r) => setTimeout(r, 1_200));
    expect((await status('t-errs')).budget.windows[0].spentUsd).toBe(0.000006);
  }, 30_000);

  it('falls back when a stream dies before its first byte, and ends with an error event (never [DONE]) after', async () => {
    await tenant('t-stream', { primary: { model: 'cutbefore' }, fallback: ['good'] });
    const { data: stream, response } = await client('t-stream')
      .chat.completions.create({ model: 'cutbefore', messages: [{ role: 'user', content: 'x' }], stream: true })
      .withResponse();
    expect(response.headers.get('x-tenancy-model')).toBe('good');
    expect(response.headers.get('x-tenancy-fallback')).toBe('true');
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text).toContain('w9');

    await apply([router('t-stream', { primary: { model: 'cutafter' }, fallback: ['good'] })]);
    const raw = await fetch(`${plane.url}/v1/ai/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys['t-stream']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'cutafter', messages: [{ role: 'user', content: 'x' }], stream: true }),
    });
    const body = await raw.text();
    expect(body).toContain('partial');
    expect(body).not.toContain('[DONE]');
    expect(body).toMatch(/"code":"stream_cut"/);
    await apply([router('t-stream', { primary: { model: 'stallafter' }, fallback: ['good'] })]);
    const stalled = await fetch(`${plane.url}/v1/ai/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys['t-stream']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'stallafter', messages: [{ role: 'user', content: 'x' }], stream: true }),
    });
    const stalledBody = await stalled.text();
    expect(stalledBody).toContain('partial');
    expect(stalledBody).toMatch(/"code":"stream_cut"/);
    expect(stalledBody).toMatch(/stalled|in time/);
    expect(stalledBody).not.toContain('[DONE]');
    await apply([router('t-stream', { primary: { model: 'cutafter' }, fallback: ['good'] })]);
    const cut = await client('t-stream').chat.completions.create({
      model: 'cutafter',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    await expect(
      (async () => {
        for await (const _ of cut) {
          // drain
        }
      })(),
    ).rejects.toThrow(/stream|failed/);
  });

  it('never sends a tenant data to a region its sovereignty rules forbid, not even as a fallback', async () => {
    const sovereignty = (id: string) => ({
      apiVersion: 'tenancy/v1',
      kind: 'DataSovereignty',
      metadata: { tenant: id },
      spec: { region: 'eu-west-1', allowedRegions: ['eu-*'] },
    });
    await tenant('t-sov', { primary: { model: 'us-model' }, fallback: ['good'] }, [sovereignty('t-sov')]);
    const before = fake.count('ok-us');
    const { data, response } = await ask('t-sov', 'us-model');
    expect(data.model).toBe('good');
    expect(response.headers.get('x-tenancy-fallback')).toBe('true');
    expect((await client('t-sov').models.list()).data.map((m) => m.id)).toEqual(['good']);
    await tenant('t-sov2', { primary: { model: 'good' }, fallback: ['us-model'] }, [sovereignty('t-sov2')]);
    fake.state.flaky = true;
    await apply([router('t-sov2', { primary: { model: 'down' }, fallback: ['us-model'] })]);
    await expect(ask('t-sov2', 'down')).rejects.toMatchObject({ status: 502 });
    await apply([router('t-sov2', { primary: { model: 'us-model' } })]);
    await expect(ask('t-sov2', 'us-model')).rejects.toMatchObject({ status: 422, code: 'sovereignty_violation' });
    expect(fake.count('ok-us')).toBe(before);
  });

  it('refuses with 429 budget_exhausted and Retry-After once the day budget cannot hold a call', async () => {
    // Each call holds (ceil(1.1 * 10) + 16) output tokens at $1000/MTok = $0.027 and costs 3 tokens = $0.003.
    await tenant('t-budget', { primary: { model: 'pricey' }, budget: { dailyUsd: 0.06 } });
    let served = 0;
    let refusal: InstanceType<typeof OpenAI.APIError> | undefined;
    for (let i = 0; i < 30 && !refusal; i++) {
      try {
        await ask('t-budget', 'pricey');
        served++;
      } catch (e) {
        refusal = e as InstanceType<typeof OpenAI.APIError>;
      }
    }
    expect(served).toBe(12);
    expect({ status: refusal!.status, code: refusal!.code }).toEqual({ status: 429, code: 'budget_exhausted' });
    expect(refusal!.error).toMatchObject({ type: 'insufficient_quota', window: 'day', limitUsd: 0.06 });
    const retryAfter = Number(refusal!.headers?.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    const day = (await status('t-budget')).budget.windows.find((w: { window: string }) => w.window === 'day');
    expect(day).toMatchObject({ limitUsd: 0.06, spentUsd: 0.036, reservedUsd: 0 });
  });

  it('downgrades to the fallback chain at the threshold (or denies), with a router.budget.threshold event', async () => {
    const budget = (action: string) => ({ dailyUsd: 0.05, circuitBreaker: { threshold: 0.5, action } });
    await tenant('t-thresh', {
      primary: { model: 'pricey' },
      fallback: ['cheap'],
      budget: budget('downgrade_to_fallback'),
    });
    const { data, response } = await ask('t-thresh', 'pricey');
    expect(data.model).toBe('cheap');
    expect(response.headers.get('x-tenancy-fallback')).toBe('true');
    expect((await status('t-thresh')).budget.downgraded).toBe(true);
    await tenant('t-deny', { primary: { model: 'pricey' }, fallback: ['cheap'], budget: budget('deny') });
    await expect(ask('t-deny', 'pricey')).rejects.toMatchObject({ status: 429, code: 'budget_threshold_reached' });
    await expect
      .poll(
        async () =>
          (await call(plane, 'GET', '/v1/events?type=tenancy.router.budget.*&limit=50'))
            .json()
            .items.map((e: { subject?: string; data?: { tenantId?: string }; tenantid?: string }) => e),
        { timeout: 5_000 },
      )
      .toEqual(expect.arrayContaining([expect.objectContaining({ type: 'tenancy.router.budget.threshold' })]));
  });

  it('cuts off a stream that would pass its budget hold with a budget_exhausted error event', async () => {
    await tenant('t-run', { primary: { model: 'runaway' }, budget: { dailyUsd: 1 } });
    const raw = await fetch(`${plane.url}/v1/ai/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys['t-run']}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'runaway',
        max_tokens: 20,
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      }),
    });
    const body = await raw.text();
    expect(body).toMatch(/"code":"budget_exhausted"/);
    expect(body).not.toContain('[DONE]');
    expect(body).not.toContain('w100');
    const day = (await status('t-run')).budget.windows.find((w: { window: string }) => w.window === 'day');
    // Charged at most the hold: (ceil(1.1 * 20) + 16) tokens at $1000/MTok.
    expect(day.spentUsd).toBeLessThanOrEqual(0.038);
    expect(day.reservedUsd).toBe(0);
  });

  it('serves at most what the budget holds when 200 requests race', async () => {
    // Mock provider, 2 s latency: every hold is taken before the first settles. Hold $0.027 each, 20 fit in $0.54.
    await tenant('t-race', { primary: { model: 'mock-pricey' }, budget: { dailyUsd: 0.54 } });
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => ask('t-race', 'mock-pricey')));
    const served = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter(
      (r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'budget_exhausted',
    ).length;
    expect(served).toBe(20);
    expect(refused).toBe(180);
    const day = (await status('t-race')).budget.windows.find((w: { window: string }) => w.window === 'day');
    expect(day.spentUsd + day.reservedUsd).toBeLessThanOrEqual(0.54);
  }, 60_000);

  it('puts a raised router budget behind the budgetIncrease approval', async () => {
    await createActive(plane, 't-gov', {
      region: 'eu-west-1',
      governance: { approvals: { require: ['budgetIncrease'] } },
    });
    await apply([router('t-gov', { primary: { model: 'good' }, budget: { monthlyUsd: 10 } })]);
    const raised = await call(plane, 'POST', '/v1/apply', {
      items: [{ manifest: router('t-gov', { primary: { model: 'good' }, budget: { monthlyUsd: 50 } }) }],
    });
    expect(raised.statusCode, raised.body).toBe(202);
    expect(raised.json().approval).toMatchObject({
      kinds: ['budgetIncrease'],
      summary: 'raise router budget.monthlyUsd 10 -> 50',
    });
    expect((await status('t-gov')).budget.windows.find((w: { window: string }) => w.window === 'month').limitUsd).toBe(
      10,
    );
  });

  it('meters tokens and cost into the usage store', async () => {
    await expect
      .poll(
        async () => {
          const usage = (await call(plane, 'GET', '/v1/tenants/t-budget/usage?granularity=day')).json();
          return Object.fromEntries(
            (usage.totals ?? []).map((t: { resource: string; amount: number }) => [t.resource, t.amount]),
          );
        },
        { timeout: 5_000 },
      )
      .toMatchObject({ tokens_out: 36, cost_usd: 0.036 });
    const metrics = await (await fetch(`${plane.url}/metrics`)).text();
    expect(metrics).toMatch(/tenancy_ai_requests_total\{tenant="t-budget",model="pricey",outcome="success"\} 12/);
  });
});

/** Replicas: a gateway-only process beside a full one on one PostgreSQL store, the ledger in Redis. */
describe.skipIf(!PG_URL || !REDIS_URL)('model router on PostgreSQL with a Redis ledger and a gateway replica', () => {
  let full: TestPlane;
  let gateway: TestPlane;
  let store: { url: string; drop: () => Promise<void> };
  let token: string;
  const env = { TENANCY_ROUTER_ALLOW_PRIVATE: 'true', TENANCY_REDIS_URL: REDIS_URL!, TENANCY_ROUTER_LEDGER: 'redis' };
  const tenantId = `gw-${Date.now().toString(36)}`;

  beforeAll(async () => {
    store = await freshPostgresDatabase();
    full = await startTestPlane('postgres', { listen: true, env, storeUrl: store.url });
    // A replica shares the installation's keys.
    gateway = await startTestPlane('postgres', {
      listen: true,
      env: {
        ...env,
        TENANCY_ROOT_KEY_FILE: `${full.dataDir}/root.key`,
        TENANCY_SIGNING_KEY_FILE: `${full.dataDir}/signing-keys.json`,
      },
      storeUrl: store.url,
      start: { role: 'gateway' },
    });
    await createActive(full, tenantId, { region: 'eu-west-1' });
    const res = await call(full, 'POST', '/v1/apply', {
      items: [
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'ModelProvider',
            metadata: { name: 'mock' },
            spec: {
              type: 'mock',
              region: 'eu-west-1',
              mock: { latencyMs: 1_500 },
              models: [model('mock-pricey', 'mock-pricey', 1000)],
            },
          },
        },
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'TenantRouter',
            metadata: { tenant: tenantId },
            spec: { primary: { model: 'mock-pricey' }, budget: { dailyUsd: 0.54 } },
          },
        },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    token = (await tenantKey(full, tenantId, 'operator')).token;
  }, 90_000);

  afterAll(async () => {
    await gateway?.close();
    await full?.close();
    await store?.drop();
  });

  it('serves only the model API on the gateway, and holds the budget across both replicas', async () => {
    expect((await call(gateway, 'GET', `/v1/tenants/${tenantId}`)).statusCode).toBe(404);
    const clients = [full, gateway].map((p) => new OpenAI({ baseURL: `${p.url}/v1/ai`, apiKey: token, maxRetries: 0 }));
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        clients[i % 2]!.chat.completions.create({
          model: 'mock-pricey',
          max_tokens: 10,
          messages: [{ role: 'user', content: 'x' }],
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(20);
    const day = (await call(full, 'GET', `/v1/tenants/${tenantId}/router`)).json().budget.windows[0];
    expect(day.spentUsd + day.reservedUsd).toBeLessThanOrEqual(0.54);
  }, 60_000);
});

describe('model router: providers on private addresses', () => {
  let plane: TestPlane;
  let fake: FakeOpenAi;

  beforeAll(async () => {
    fake = await startFakeOpenAi();
    plane = await startTestPlane('pglite', { listen: true });
  }, 60_000);

  afterAll(async () => {
    await plane?.stop();
    await fake?.close();
  });

  const provider = (baseUrl: string) => ({
    apiVersion: 'tenancy/v1',
    kind: 'ModelProvider',
    metadata: { name: 'local' },
    spec: { type: 'openai-compatible', baseUrl, region: 'eu-west-1', models: [model('local-model', 'ok-local')] },
  });

  it('refuses a loopback literal at apply, and a name that resolves to loopback at connection time', async () => {
    const literal = await call(plane, 'POST', '/v1/apply', { items: [{ manifest: provider(fake.url) }] });
    expect(literal.statusCode).toBe(400);
    expect(literal.json().errors[0]).toMatchObject({ path: '/items/0/manifest/spec/baseUrl' });
    expect(literal.json().errors[0].message).toContain('TENANCY_ROUTER_ALLOW_PRIVATE');
    const named = fake.url.replace('127.0.0.1', 'localhost');
    await createActive(plane, 'p-local', { region: 'eu-west-1' });
    const applied = await call(plane, 'POST', '/v1/apply', {
      items: [
        { manifest: provider(named) },
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'TenantRouter',
            metadata: { tenant: 'p-local' },
            spec: { primary: { model: 'local-model' } },
          },
        },
      ],
    });
    expect(applied.statusCode, applied.body).toBe(200);
    const res = await call(
      plane,
      'POST',
      '/v1/ai/chat/completions',
      { model: 'local-model', messages: [{ role: 'user', content: 'x' }] },
      { headers: { 'x-tenant-id': 'p-local' } },
    );
    expect(res.statusCode).toBe(502);
    expect(res.json().error.code).toBe('upstream_error');
    expect(res.json().error.message).toContain('TENANCY_ROUTER_ALLOW_PRIVATE');
    expect(fake.requests).toHaveLength(0);
  });

  it('answers a bad credential with an OpenAI-shaped 401', async () => {
    const client = new OpenAI({ baseURL: `${plane.url}/v1/ai`, apiKey: 'tnc_not_a_real_key', maxRetries: 0 });
    await expect(client.models.list()).rejects.toMatchObject({ status: 401, code: 'invalid_credentials' });
  });
});
