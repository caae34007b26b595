/**
 * Fastify: `tenancyFastify(app, tenancy)` adds hooks to `app` (or to the plugin scope it is
 * called in). `onRequest` admits the request before its body is read; `preHandler` enters
 * the request's scope so the handler and everything it awaits see `currentTenant()`.
 * Typed structurally, so the SDK does not load Fastify.
 */
import { toProblem } from '../problem.js';
import { runInScope } from '../request-context.js';
import { correlationOf, type Admission, type Tenancy } from '../tenancy-sdk.js';

/** What the adapter reads of a Fastify request. */
export interface FastifyRequestLike {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** What the adapter uses of a Fastify reply. */
export interface FastifyReplyLike {
  code(statusCode: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

/** What the adapter uses of a Fastify instance. */
export interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  addHook(name: 'preHandler', hook: (request: FastifyRequestLike, reply: FastifyReplyLike, done: (error?: Error) => void) => void): unknown;
  addHook(name: 'onResponse' | 'onRequestAbort', hook: (request: FastifyRequestLike) => Promise<void>): unknown;
}

/** Header lookup over Node's lower-cased header object (a repeated header counts as invalid). */
export function headerOf(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Where the adapter keeps a request's admission (a symbol: no clash with app decorations). */
const ADMISSION = Symbol('tenancy.admission');
/** Marks a request whose client went away while it waited for a slot. */
const ABORTED = Symbol('tenancy.aborted');

type Tracked = FastifyRequestLike & { [ADMISSION]?: Admission; [ABORTED]?: true };

/** Add the Tenancy pipeline to a Fastify instance. */
export function tenancyFastify(app: FastifyLike, tenancy: Tenancy): void {
  app.addHook('onRequest', async (request: Tracked, reply) => {
    const headers = request.headers;
    const incoming = { method: request.method, url: request.url, header: (name: string) => headerOf(headers, name) };
    const correlation = correlationOf(incoming);
    try {
      const admission = await tenancy.admit(incoming, correlation);
      // A request can wait for a slot (fair scheduling); one whose client left meanwhile must
      // give its slot straight back, since no response hook will run for it.
      if (request[ABORTED]) {
        admission.release();
        return undefined;
      }
      request[ADMISSION] = admission;
      const add = admission.headers;
      for (const name in add) reply.header(name, add[name]!);
    } catch (error) {
      const p = toProblem(error, request.url.split('?')[0]!, correlation.requestId);
      reply.code(p.status);
      for (const [name, value] of Object.entries(p.headers)) reply.header(name, value);
      return reply.send(p.body);
    }
    return undefined;
  });
  app.addHook('preHandler', (request: Tracked, _reply, done) => {
    const admission = request[ADMISSION];
    if (!admission) return done();
    runInScope(admission.scope, () => done());
  });
  app.addHook('onResponse', async (request: Tracked) => {
    request[ADMISSION]?.release();
  });
  app.addHook('onRequestAbort', async (request: Tracked) => {
    request[ABORTED] = true;
    request[ADMISSION]?.release();
  });
}
