/**
 * A fake OpenAI-compatible provider on 127.0.0.1 (an OS-picked port), the edge of the world
 * for model-router tests. What it does depends on the upstream model name a request asks for:
 *
 * - `ok-*`: answers (streams ten chunks, then usage, then `[DONE]`);
 * - `fail503`: 503 every time; `flaky`: 503 while `state.flaky` is true, then answers;
 * - `ratelimited`: 429 with `Retry-After: 0` on every other call;
 * - `garbage`: 200 with a body that is not JSON;
 * - `stall`: never answers (the connection stays open);
 * - `cutbefore`: a stream that closes before any chunk; `cutafter`: two chunks, then the socket dies;
 * - `stallafter`: two chunks, then nothing (the stream never ends);
 * - `runaway`: streams 5,000 words whatever max_tokens says;
 * - `embed-*`: embeddings of 8 dimensions.
 *
 * It records every request (path, authorization, body) for assertions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  path: string;
  authorization: string | undefined;
  body: Record<string, any>;
}

export interface FakeOpenAi {
  url: string;
  requests: FakeRequest[];
  state: { flaky: boolean };
  /** Calls per upstream model. */
  count(model: string): number;
  close(): Promise<void>;
}

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`);

function completion(model: string, content: string, prompt = 12) {
  const completionTokens = content.split(' ').length;
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens },
  };
}

function chunk(model: string, delta: Record<string, unknown>, finish: string | null = null) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

async function readBody(req: IncomingMessage): Promise<Record<string, any>> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  return text ? JSON.parse(text) : {};
}

export async function startFakeOpenAi(): Promise<FakeOpenAi> {
  const requests: FakeRequest[] = [];
  const state = { flaky: true };
  const counts = new Map<string, number>();
  const open = new Set<ServerResponse>();
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const model = String(body.model ?? '');
    requests.push({ path: req.url ?? '', authorization: req.headers.authorization, body });
    counts.set(model, (counts.get(model) ?? 0) + 1);
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(value));
    };
    if (req.url?.endsWith('/embeddings')) {
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      return json(200, {
        object: 'list',
        model,
        data: inputs.map((_: unknown, index: number) => ({
          object: 'embedding',
          index,
          embedding: [1, 0, 0, 0, 0, 0, 0, index],
        })),
        usage: { prompt_tokens: 3 * inputs.length, total_tokens: 3 * inputs.length },
      });
    }
    if (model === 'fail503' || (model === 'flaky' && state.flaky))
      return json(503, { error: { message: 'overloaded', type: 'server_error' } });
    if (model === 'ratelimited' && counts.get(model)! % 2 === 1)
      return json(429, { error: { message: 'slow down' } }, { 'retry-after': '0' });
    if (model === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('<html>not json</html>');
    }
    if (model === 'stall') {
      open.add(res);
      return;
    }
    if (!body.stream) return json(200, completion(model, `answer from ${model}`));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (v: unknown) => res.write(`data: ${typeof v === 'string' ? v : JSON.stringify(v)}\n\n`);
    if (model === 'cutbefore') return res.destroy();
    if (model === 'stallafter') {
      send(chunk(model, { role: 'assistant', content: '' }));
      send(chunk(model, { content: 'partial' }));
      open.add(res);
      return;
    }
    if (model === 'cutafter') {
      send(chunk(model, { role: 'assistant', content: '' }));
      send(chunk(model, { content: 'partial' }));
      send(chunk(model, { content: ' answer' }));
      setTimeout(() => res.destroy(), 20);
      return;
    }
    const text = model === 'runaway' ? words(5000) : words(10);
    send(chunk(model, { role: 'assistant', content: '' }));
    for (const [i, w] of text.entries()) send(chunk(model, { content: i === 0 ? w : ` ${w}` }));
    send(chunk(model, {}, 'stop'));
    send({
      id: 'chatcmpl-fake',
      object: 'chat.completion.chunk',
      created: 1,
      model,
      choices: [],
      usage: { prompt_tokens: 12, completion_tokens: text.length, total_tokens: 12 + text.length },
    });
    send('[DONE]');
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    state,
    count: (model) => counts.get(model) ?? 0,
    async close() {
      for (const r of open) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
