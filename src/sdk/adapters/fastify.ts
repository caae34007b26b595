/**
 * Fastify: `tenancyFastify(app, tenancy)` adds hooks to `app` (or to the plugin scope it is
 * called in). `onRequest` admits the request before its body is read; `preHandler` enters
 * the request's scope so the handler and everything it awaits see `currentTenant()`.
 * Typed structurally, so the SDK does not load Fastify.
 */
import { TenancyError } from '../../errors.js';
import { pathOf, toProblem } from '../problem.js';
import { runInScope } from '../request-context.js';
import { correlationOf, type Admission, type Correlation, type IncomingRequest, type Tenancy } from '../tenancy-sdk.js';

/** What the adapter reads of a Fastify request. */
export interface FastifyRequestLike {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** What the adapter uses of a Fastify reply. */
export interface FastifyReplyLike {
  /** The status sent (read when the response is done). */
  statusCode?: number;
  code(statusCode: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

/** What the adapter uses of a Fastify instance (callback-style hooks: no promise per request). */
export interface FastifyLike {
  addHook(
    name: 'onRequest' | 'preHandler',
    hook: (request: FastifyRequestLike, reply: FastifyReplyLike, done: (error?: Error) => void) => void,
  ): unknown;
  addHook(
    name: 'onResponse',
    hook: (request: FastifyRequestLike, reply: FastifyReplyLike, done: () => void) => void,
  ): unknown;
  addHook(name: 'onRequestAbort', hook: (request: FastifyRequestLike, done: () => void) => void): unknown;
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

/** A Fastify request as the pipeline reads it (a class: no closure per request). */
class FastifyIncoming implements IncomingRequest {
  readonly method: string;
  readonly url: string;
  readonly #headers: Record<string, string | string[] | undefined>;

  constructor(request: FastifyRequestLike) {
    this.method = request.method;
    this.url = request.url;
    this.#headers = request.headers;
  }

  header(name: string): string | undefined {
    return headerOf(this.#headers, name);
  }
}

/** Answer a refused request from the hook: `done` is not called, so the route never runs. */
function refuse(request: FastifyRequestLike, reply: FastifyReplyLike, correlation: Correlation, error: unknown): void {
  const p = toProblem(error, pathOf(request.url), correlation.requestId);
  reply.code(p.status);
  for (const name in p.headers) reply.header(name, p.headers[name]!);
  reply.send(p.body);
}

/** Keep an admitted request's admission and add its headers. */
function admitted(request: Tracked, reply: FastifyReplyLike, admission: Admission): void {
  request[ADMISSION] = admission;
  const add = admission.headers;
  for (const name in add) reply.header(name, add[name]!);
}

/** Add the Tenancy pipeline to a Fastify instance. */
export function tenancyFastify(app: FastifyLike, tenancy: Tenancy): void {
  // Callback-style hooks throughout: a request the SDK admits from memory passes all three
  // without a promise or a microtask (async hooks cost a promise and its reactions each).
  app.addHook('onRequest', (request: Tracked, reply, done) => {
    const incoming = new FastifyIncoming(request);
    const correlation = correlationOf(incoming);
    let result: Admission | TenancyError | Promise<Admission>;
    try {
      result = tenancy.decide(incoming, correlation);
    } catch (error) {
      return refuse(request, reply, correlation, error);
    }
    if (result instanceof TenancyError) return refuse(request, reply, correlation, result);
    if (!(result instanceof Promise)) {
      admitted(request, reply, result);
      return done();
    }
    result.then(
      (admission) => {
        // A request can wait for a slot (fair scheduling); one whose client left meanwhile must
        // give its slot straight back, since no response hook will run for it.
        if (request[ABORTED]) return admission.release();
        admitted(request, reply, admission);
        done();
      },
      (error: unknown) => refuse(request, reply, correlation, error),
    );
  });
  app.addHook('preHandler', (request: Tracked, _reply, done) => {
    const admission = request[ADMISSION];
    if (!admission) return done();
    runInScope(admission.scope, done);
  });
  app.addHook('onResponse', (request: Tracked, reply, done) => {
    const admission = request[ADMISSION];
    if (admission && !request[ABORTED]) admission.finished(reply.statusCode ?? 200);
    admission?.release();
    done();
  });
  app.addHook('onRequestAbort', (request: Tracked, done) => {
    request[ABORTED] = true;
    request[ADMISSION]?.release();
    done();
  });
}
