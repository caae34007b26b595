// The model provider of bench/router.js, in its own process: a bare node:http server that
// speaks just enough of OpenAI's API. `/v1/chat/completions` answers a fixed small completion
// with usage, or with `stream: true` ten chunks, a usage chunk and `data: [DONE]`, all written
// at once. No timers, no work beyond reading the body: the time a call takes through a gateway
// minus the time it takes here directly is the gateway's.
import { createServer } from 'node:http';

/** The completion's text, in the ten pieces a stream sends. */
const PIECES = ['The ', 'quick ', 'brown ', 'fox ', 'jumps ', 'over ', 'the ', 'lazy ', 'dog', '.'];
const USAGE = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };

const created = Math.floor(Date.now() / 1000);

function completion(model) {
  return JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: PIECES.join('') }, finish_reason: 'stop' }],
    usage: USAGE,
  });
}

function stream(model) {
  const base = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created, model };
  const events = PIECES.map((content, i) =>
    JSON.stringify({
      ...base,
      choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content } : { content }, finish_reason: null }],
    }),
  );
  events.push(JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
  events.push(JSON.stringify({ ...base, choices: [], usage: USAGE }));
  return `${events.map((e) => `data: ${e}\n\n`).join('')}data: [DONE]\n\n`;
}

let requests = 0;
const server = createServer((req, res) => {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"not found","type":"invalid_request_error","code":null,"param":null}}');
      return;
    }
    requests++;
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"bad json","type":"invalid_request_error","code":null,"param":null}}');
      return;
    }
    const model = typeof body.model === 'string' ? body.model : 'upstream-model';
    if (body.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(stream(model));
    } else {
      const text = completion(model);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ url: `http://127.0.0.1:${server.address().port}`, content: PIECES.join(''), usage: USAGE });
});
process.on('message', (m) => {
  if (m === 'count') process.send?.({ requests });
});
process.on('SIGTERM', () => process.exit(0));
