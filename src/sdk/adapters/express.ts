/**
 * Express (or any Node `http` stack with `(req, res, next)`): `app.use(tenancyExpress(tenancy))`.
 * `next()` runs inside the request's scope, so every later middleware and the handler see
 * `currentTenant()`. Typed structurally, so the SDK does not load Express.
 */
import { TenancyError } from '../../errors.js';
import { pathOf, toProblem } from '../problem.js';
import { runInScope } from '../request-context.js';
import { correlationOf, type Admission, type Tenancy } from '../tenancy-sdk.js';
import { headerOf } from './fastify.js';

/** What the middleware reads of a request. */
export interface ExpressRequestLike {
  method?: string | undefined;
  url?: string | undefined;
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
}

/** What the middleware uses of a response (Node's `ServerResponse` has all of it). */
export interface ExpressResponseLike {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(chunk?: string): unknown;
  once(event: 'finish' | 'close', listener: () => void): unknown;
}

/** Express middleware running the Tenancy pipeline. */
export function tenancyExpress(
  tenancy: Tenancy,
): (req: ExpressRequestLike, res: ExpressResponseLike, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    const url = req.originalUrl ?? req.url ?? '/';
    const incoming = { method: req.method ?? 'GET', url, header: (name: string) => headerOf(req.headers, name) };
    const correlation = correlationOf(incoming);
    const refuse = (error: unknown): void => {
      const p = toProblem(error, pathOf(url), correlation.requestId);
      res.statusCode = p.status;
      for (const name in p.headers) res.setHeader(name, p.headers[name]!);
      res.end(JSON.stringify(p.body));
    };
    const proceed = (admission: Admission): void => {
      const add = admission.headers;
      for (const name in add) res.setHeader(name, add[name]!);
      res.once('finish', () => {
        admission.finished(res.statusCode);
        admission.release();
      });
      res.once('close', admission.release);
      runInScope(admission.scope, () => next());
    };
    let result: Admission | TenancyError | Promise<Admission>;
    try {
      result = tenancy.decide(incoming, correlation);
    } catch (error) {
      return refuse(error);
    }
    if (result instanceof TenancyError) return refuse(result);
    if (!(result instanceof Promise)) return proceed(result);
    // The request waits (a credential or context to fetch, a slot to free): a client that
    // leaves meanwhile gets no handler, and its slot goes straight back.
    let gone = false;
    res.once('close', () => (gone = true));
    result.then((admission) => (gone ? admission.release() : proceed(admission)), refuse);
  };
}
