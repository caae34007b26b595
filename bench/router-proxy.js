// The floor of bench/router.js: the least a Node gateway can do, in its own process on the
// gateways' core. A node:http server that sends each request's body on to the upstream over
// keep-alive (undici) and streams the answer back as it comes, with no parsing, no checks and
// no accounting. What it adds to a direct call is the cost of one more HTTP hop on this machine.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [upstreamUrl] = process.argv.slice(2);
const upstream = new Pool(upstreamUrl, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });

const server = createServer((req, res) => {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', async () => {
    try {
      const answer = await upstream.request({
        path: req.url,
        method: req.method,
        headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' },
        body: Buffer.concat(parts),
      });
      const length = answer.headers['content-length'];
      res.writeHead(answer.statusCode, {
        'content-type': answer.headers['content-type'] ?? 'application/json',
        ...(length ? { 'content-length': length } : {}),
      });
      for await (const chunk of answer.body) res.write(chunk);
      res.end();
    } catch (error) {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(error), type: 'api_error', code: null, param: null } }));
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ url: `http://127.0.0.1:${server.address().port}` }));
process.on('SIGTERM', () => process.exit(0));
