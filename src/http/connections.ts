/**
 * The HTTP server's connections, where Fastify's defaults let a client hold a socket as long
 * as it likes and reset it under a client that is still sending:
 * - a request, headers and body, must arrive within the request timeout
 *   (`TENANCY_REQUEST_TIMEOUT_SECONDS`; Fastify turns Node's own off), or the client gets
 *   408 problem+json and the connection is closed;
 * - `Expect: 100-continue` is answered with 100 only once the caller is authenticated and the
 *   declared length fits the route's limit, so a client told 401 or 413 never sends the body;
 * - a body still arriving after its answer went out (413, 401, 404, 415) is read and dropped
 *   for a few seconds on a connection kept open (Fastify would close it, which resets it under
 *   a client still sending, and loses the answer), and the connection is closed if the body
 *   has not ended by then.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { problem } from './problem.js';

/** Request timeout unless configured: the largest body (16 MiB) at about 0.5 Mbit/s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** Longest the headers alone may take (never more than the request timeout). */
const HEADERS_TIMEOUT_MS = 60_000;
/** How long a body still arriving after its answer is read and dropped before the connection is closed. */
export const DRAIN_AFTER_ANSWER_MS = 5_000;

/** Options for `Fastify()` and the hooks that go with them, for one server. */
export interface ConnectionLimits {
  options: {
    requestTimeout: number;
    http: { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number };
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => void;
  };
  /** Register the hooks; call before any other `onRequest` hook, so a refused request is known too. */
  register(app: FastifyInstance): void;
}

/** Connection limits for a server whose requests must arrive within `requestTimeoutMs`. */
export function connectionLimits(requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): ConnectionLimits {
  const timeoutMs = Math.max(1, Math.round(requestTimeoutMs));
  // The response under way on each socket, so a late client error never writes a second answer.
  const answering = new WeakMap<Socket, ServerResponse>();

  const clientErrorHandler = (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable && !answering.get(socket)?.headersSent) {
      const [status, code, detail] =
        error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request_timeout', `the request was not received within ${timeoutMs / 1000} seconds`]
          : error.code === 'HPE_HEADER_OVERFLOW'
            ? [431, 'headers_too_large', 'the request headers are too large']
            : [400, 'bad_request', 'the request is not valid HTTP/1.1'];
      const body = JSON.stringify(problem(status, code, detail));
      const headers = `Content-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close`;
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${headers}\r\n\r\n${body}`);
    }
    socket.destroy(error);
  };

  return {
    options: {
      requestTimeout: timeoutMs,
      http: {
        requestTimeout: timeoutMs,
        headersTimeout: Math.min(HEADERS_TIMEOUT_MS, timeoutMs),
        // Node looks for expired requests this often (30 s by default, too coarse for short timeouts).
        connectionsCheckingInterval: Math.min(5_000, Math.max(100, Math.floor(timeoutMs / 4))),
      },
      clientErrorHandler,
    },
    register(app) {
      // With a listener here Node no longer sends 100 Continue on its own: preParsing decides.
      app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));

      app.addHook('onRequest', async (request, reply) => {
        const socket = request.raw.socket as Socket | undefined;
        if (socket) answering.set(socket, reply.raw);
      });

      app.addHook('preParsing', async (request, reply, payload) => {
        const expect = request.headers.expect;
        if (typeof expect === 'string' && /^100-continue$/i.test(expect.trim()) && !reply.raw.headersSent) {
          const declared = Number(request.headers['content-length']);
          const limit = request.routeOptions.bodyLimit;
          // Too large: send no 100, so the 413 that follows goes out before any of the body.
          if (!(limit !== undefined && declared > limit)) reply.raw.writeContinue();
        }
        return payload;
      });

      app.addHook('onSend', async (request, reply, payload) => {
        // Answered before the body has all arrived (413, 401, 404, 415): closing now would reset the
        // connection under a client still sending, and with it this answer. Keep it open instead, so
        // Node reads and drops the rest of the body (it is framed by length or chunks); onResponse
        // bounds how long. A client still waiting for 100 Continue is closed on by Node all the same.
        if (request.raw.complete === false) {
          reply.removeHeader('connection');
          reply.raw.shouldKeepAlive = true;
        }
        return payload;
      });

      app.addHook('onResponse', async (request, reply) => {
        const raw = request.raw;
        const socket = raw.socket as Socket | undefined;
        if (!socket) return;
        // Injected requests have no `complete`; a real one answered before its body ended does.
        if (raw.complete !== false) {
          if (answering.get(socket) === reply.raw) answering.delete(socket);
          return;
        }
        if (socket.destroyed) return;
        const timer = setTimeout(() => socket.destroy(), DRAIN_AFTER_ANSWER_MS);
        timer.unref();
        const done = () => clearTimeout(timer);
        raw.once('end', done);
        socket.once('close', done);
      });
    },
  };
}
