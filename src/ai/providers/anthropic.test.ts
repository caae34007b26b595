/**
 * The Anthropic adapter against a stand-in for the Messages API on 127.0.0.1: the requests it
 * sends are checked field by field, canned messages and event streams come back as OpenAI
 * answers and chunks, and failures (error events, cut and stalled streams, 429s, garbage) as
 * UpstreamErrors of the right kind.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Agent } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ChatChunk, type ChatRequest, type ProviderTarget, UpstreamError } from '../types.js';
import { AnthropicAdapter } from './anthropic.js';
import { upstreamAgent } from './upstream-http.js';

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
}

let server: Server;
let agent: Agent;
let adapter: AnthropicAdapter;
let target: ProviderTarget;
let received: Received[] = [];
/** How the stand-in answers the next request. */
let answer: (res: ServerResponse) => void;

const options = () => ({ signal: new AbortController().signal });

beforeAll(async () => {
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(parts).toString('utf8')),
      });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  agent = upstreamAgent();
  adapter = new AnthropicAdapter(agent);
  target = {
    name: 'anthropic-test',
    type: 'anthropic',
    baseUrl: `http://127.0.0.1:${port}/v1`,
    region: 'us-east-1',
    apiKey: 'sk-test',
    timeoutMs: 2000,
  };
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await agent.close();
});

beforeEach(() => {
  received = [];
});

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

/** An SSE answer of `events` (each sent as `event: <type>`); left open when `end` is false. */
function sse(events: Array<Record<string, unknown>>, end = true) {
  return (res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const event of events) res.write(`event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`);
    if (end) res.end();
  };
}

async function collect(stream: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const chunks: ChatChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function failure(work: Promise<unknown>): Promise<UpstreamError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

const message = (content: unknown[], stop: string, usage: Record<string, number>) => ({
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5',
  content,
  stop_reason: stop,
  stop_sequence: null,
  usage,
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

const messageStart = {
  type: 'message_start',
  message: {
    id: 'msg_s1',
    type: 'message',
    role: 'assistant',
    content: [],
    usage: { input_tokens: 25, output_tokens: 1 },
  },
};

describe('AnthropicAdapter.chat', () => {
  it('sends a Messages API request: system lifted out, runs merged, tools, stop sequences, headers', async () => {
    answer = json(200, message([{ type: 'text', text: 'Hi' }], 'end_turn', { input_tokens: 10, output_tokens: 2 }));
    const body: ChatRequest = {
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hello' },
        { role: 'user', content: [{ type: 'text', text: 'Are you there?' }] },
      ],
      max_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      stop: 'END',
      tools: [weatherTool],
      tool_choice: 'required',
      seed: 7,
      response_format: { type: 'text' },
      stream_options: { include_usage: true },
      frequency_penalty: 0.5,
      user: 'tenant-a',
    };
    await adapter.chat(target, body, options());

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/v1/messages');
    expect(request!.headers['x-api-key']).toBe('sk-test');
    expect(request!.headers['anthropic-version']).toBe('2023-06-01');
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 256,
      system: 'Be brief.\n\nAnswer in French.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hello' },
            { type: 'text', text: 'Are you there?' },
          ],
        },
      ],
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ['END'],
      tools: [
        {
          name: 'get_weather',
          description: 'The weather in a city',
          input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      ],
      tool_choice: { type: 'any' },
      metadata: { user_id: 'tenant-a' },
    });
  });

  it('sends tool calls as tool_use, tool messages as one user turn of tool_results, images as blocks', async () => {
    answer = json(
      200,
      message([{ type: 'text', text: 'Sunny in both.' }], 'end_turn', { input_tokens: 90, output_tokens: 5 }),
    );
    await adapter.chat(
      target,
      {
        model: 'claude-sonnet-4-5',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Weather where these were taken?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'image_url', image_url: { url: 'https://example.com/b.jpg', detail: 'high' } },
            ],
          },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'toolu_1', content: '21C sunny' },
          { role: 'tool', tool_call_id: 'toolu_2', content: '12C sunny' },
          { role: 'user', content: 'Summarise.' },
        ],
        max_tokens: 100,
        stop: ['A', 'B'],
        tools: [weatherTool],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
      },
      options(),
    );

    const body = received[0]!.body;
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Weather where these were taken?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/b.jpg' } },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Oslo' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '21C sunny' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: '12C sunny' },
          { type: 'text', text: 'Summarise.' },
        ],
      },
    ]);
    expect(body.stop_sequences).toEqual(['A', 'B']);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'get_weather' });
    expect(body.system).toBeUndefined();
  });

  it("defaults max_tokens to 4096, maps 'auto', and sends no tools for tool_choice 'none'", async () => {
    answer = json(200, message([{ type: 'text', text: 'ok' }], 'end_turn', { input_tokens: 1, output_tokens: 1 }));
    const messages: ChatRequest['messages'] = [{ role: 'user', content: 'Hi' }];
    await adapter.chat(target, { model: 'm', messages, tools: [weatherTool], tool_choice: 'auto' }, options());
    await adapter.chat(target, { model: 'm', messages, tools: [weatherTool], tool_choice: 'none' }, options());

    expect(received[0]!.body.max_tokens).toBe(4096);
    expect(received[0]!.body.messages).toEqual([{ role: 'user', content: 'Hi' }]);
    expect(received[0]!.body.tool_choice).toEqual({ type: 'auto' });
    expect(received[0]!.body.stream).toBeUndefined();
    expect(received[1]!.body.tools).toBeUndefined();
    expect(received[1]!.body.tool_choice).toBeUndefined();
  });

  it('answers in OpenAI shape: text joined, tool_use as tool_calls, cached tokens counted as prompt', async () => {
    answer = json(
      200,
      message(
        [
          { type: 'text', text: 'Let me ' },
          { type: 'text', text: 'check.' },
          { type: 'tool_use', id: 'toolu_9', name: 'get_weather', input: { city: 'Paris' } },
        ],
        'tool_use',
        { input_tokens: 100, cache_creation_input_tokens: 20, cache_read_input_tokens: 300, output_tokens: 40 },
      ),
    );
    const before = Math.floor(Date.now() / 1000);
    const completion = await adapter.chat(
      target,
      { model: 'claude-app-name', messages: [{ role: 'user', content: 'Weather in Paris?' }], max_tokens: 64 },
      options(),
    );

    expect(completion).toMatchObject({
      id: 'msg_01',
      object: 'chat.completion',
      model: 'claude-app-name',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me check.',
            tool_calls: [
              { id: 'toolu_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 420, completion_tokens: 40, total_tokens: 460 },
    });
    expect(completion.created).toBeGreaterThanOrEqual(before);
    expect(completion.created).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
  ])('maps stop_reason %s to finish_reason %s', async (stop, finish) => {
    answer = json(200, message([{ type: 'text', text: 'x' }], stop, { input_tokens: 1, output_tokens: 1 }));
    const completion = await adapter.chat(
      target,
      { model: 'm', messages: [{ role: 'user', content: 'x' }] },
      options(),
    );
    expect(completion.choices[0]!.finish_reason).toBe(finish);
  });

  it('throws a 429 with its Retry-After as an http failure', async () => {
    answer = json(
      429,
      { type: 'error', error: { type: 'rate_limit_error', message: 'Number of requests exceeded' } },
      {
        'retry-after': '2',
      },
    );
    const error = await failure(
      adapter.chat(target, { model: 'm', messages: [{ role: 'user', content: 'x' }] }, options()),
    );
    expect(error).toMatchObject({ kind: 'http', status: 429, retryAfterMs: 2000 });
    expect(error.message).toContain('Number of requests exceeded');
    expect(error.retryable).toBe(true);
  });

  it('throws a protocol failure for a 200 that is not JSON, or not a message', async () => {
    answer = json(200, '<html>gateway</html>');
    const garbage = await failure(
      adapter.chat(target, { model: 'm', messages: [{ role: 'user', content: 'x' }] }, options()),
    );
    expect(garbage.kind).toBe('protocol');

    answer = json(200, { hello: 'world' });
    const shape = await failure(
      adapter.chat(target, { model: 'm', messages: [{ role: 'user', content: 'x' }] }, options()),
    );
    expect(shape.kind).toBe('protocol');
    expect(shape.retryable).toBe(false);
  });

  it('refuses what Anthropic cannot carry before calling it', async () => {
    const error = await failure(
      adapter.chat(
        target,
        {
          model: 'm',
          messages: [
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '[1' } }],
            },
          ],
        },
        options(),
      ),
    );
    expect(error.kind).toBe('unsupported');
    expect(received).toHaveLength(0);
  });
});

describe('AnthropicAdapter.chatStream', () => {
  it('streams text as OpenAI chunks with one id, a finish reason and usage last', async () => {
    answer = sse([
      messageStart,
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'ping' },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' world' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 12 } },
      { type: 'message_stop' },
    ]);
    const chunks = await collect(
      adapter.chatStream(
        target,
        { model: 'claude-app-name', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 50, stream: true },
        options(),
      ),
    );

    expect(received[0]!.body.stream).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta ?? null)).toEqual([
      { role: 'assistant', content: '' },
      { content: 'Hello' },
      { content: ' world' },
      {},
      null,
    ]);
    expect(chunks.map((c) => c.choices[0]?.finish_reason ?? null)).toEqual([null, null, null, 'stop', null]);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ id: 'msg_s1', object: 'chat.completion.chunk', model: 'claude-app-name' });
      expect(chunk.created).toBe(chunks[0]!.created);
    }
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 25, completion_tokens: 12, total_tokens: 37 },
    });
  });

  it('streams tool calls numbered in order, arguments in pieces', async () => {
    answer = sse([
      messageStart,
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Checking.' } },
      { type: 'content_block_stop', index: 0 },
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: {} },
      },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
      { type: 'content_block_stop', index: 1 },
      {
        type: 'content_block_start',
        index: 2,
        content_block: { type: 'tool_use', id: 'toolu_b', name: 'get_weather', input: {} },
      },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":"Oslo"}' } },
      { type: 'content_block_stop', index: 2 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 60 } },
      { type: 'message_stop' },
    ]);
    const chunks = await collect(
      adapter.chatStream(
        target,
        { model: 'm', messages: [{ role: 'user', content: 'Weather?' }], tools: [weatherTool], stream: true },
        options(),
      ),
    );

    const toolDeltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(toolDeltas).toEqual([
      { index: 0, id: 'toolu_a', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 0, function: { arguments: '{"city":' } },
      { index: 0, function: { arguments: '"Paris"}' } },
      { index: 1, id: 'toolu_b', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 1, function: { arguments: '{"city":"Oslo"}' } },
    ]);
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['tool_calls']);
    expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 25, completion_tokens: 60, total_tokens: 85 });
  });

  it('throws an error event as an http failure (529 when overloaded)', async () => {
    answer = sse([messageStart, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]);
    const chunks: ChatChunk[] = [];
    const error = await failure(
      (async () => {
        for await (const chunk of adapter.chatStream(
          target,
          { model: 'm', messages: [{ role: 'user', content: 'x' }] },
          options(),
        ))
          chunks.push(chunk);
      })(),
    );
    expect(chunks).toHaveLength(1);
    expect(error).toMatchObject({ kind: 'http', status: 529 });
    expect(error.message).toContain('Overloaded');

    answer = sse([messageStart, { type: 'error', error: { type: 'api_error', message: 'Internal' } }]);
    const other = await failure(
      collect(adapter.chatStream(target, { model: 'm', messages: [{ role: 'user', content: 'x' }] }, options())),
    );
    expect(other).toMatchObject({ kind: 'http', status: 500 });
  });

  it('throws a protocol failure when the stream ends before message_stop', async () => {
    answer = sse([
      messageStart,
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Half an ans' } },
    ]);
    const error = await failure(
      collect(adapter.chatStream(target, { model: 'm', messages: [{ role: 'user', content: 'x' }] }, options())),
    );
    expect(error.kind).toBe('protocol');
    expect(error.message).toBe("the provider's stream ended before its end marker");
  });

  it('throws a protocol failure for an event that is not JSON', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('event: message_start\ndata: {not json\n\n');
    };
    const error = await failure(
      collect(adapter.chatStream(target, { model: 'm', messages: [{ role: 'user', content: 'x' }] }, options())),
    );
    expect(error.kind).toBe('protocol');
  });

  it('throws a timeout when the stream stalls longer than timeoutMs', async () => {
    answer = sse(
      [messageStart, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      false,
    );
    const started = Date.now();
    const error = await failure(
      collect(
        adapter.chatStream(
          { ...target, timeoutMs: 300 },
          { model: 'm', messages: [{ role: 'user', content: 'x' }] },
          options(),
        ),
      ),
    );
    expect(error.kind).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    // undici's body timer, which ends the stalled read, ticks about once a second.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('throws a 429 before the first chunk', async () => {
    answer = json(
      429,
      { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
      { 'retry-after': '2' },
    );
    const error = await failure(
      collect(adapter.chatStream(target, { model: 'm', messages: [{ role: 'user', content: 'x' }] }, options())),
    );
    expect(error).toMatchObject({ kind: 'http', status: 429, retryAfterMs: 2000 });
  });
});

describe('AnthropicAdapter.embeddings', () => {
  it('is unsupported, and does not count against the provider', async () => {
    const error = await failure(adapter.embeddings(target, { model: 'm', input: 'x' }, options()));
    expect(error.kind).toBe('unsupported');
    expect(error.message).toBe('anthropic providers have no embeddings API');
    expect(error.countsAsFailure).toBe(false);
  });
});
