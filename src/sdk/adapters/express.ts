/**
 * Express (or any Node `http` stack with `(req, res, next)`): `app.use(tenancyExpress(tenancy))`.
 * `next()` runs inside the request's scope, so every later middleware and the handler see
 * `currentTenant()`. Typed structurally, so the SDK does not load Express.
 */
import { toProblem } from '../problem.js';
import { runInScope } from '../request-context.js';
import { correlationOf, type Tenancy } from '../tenancy-sdk.js';
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
export function tenancyExpress(tenancy: Tenancy): (req: ExpressRequestLike, res: ExpressResponseLike, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    const url = req.originalUrl ?? req.url ?? '/';
    const incoming = { method: req.method ?? 'GET', url, header: (name: string) => headerOf(req.headers, name) };
    const correlation = correlationOf(incoming);
    // Before admission, 'close' means the client left (a request can wait for a slot).
    let gone = false;
    res.once('close', () => (gone = true));
    tenancy.admit(incoming, correlation).then(
      (admission) => {
        if (gone) return admission.release();
        for (const [name, value] of Object.entries(admission.headers)) res.setHeader(name, value);
        res.once('finish', admission.release);
        res.once('close', admission.release);
        runInScope(admission.scope, () => next());
      },
      (error: unknown) => {
        const p = toProblem(error, url.split('?')[0]!, correlation.requestId);
        res.statusCode = p.status;
        for (const [name, value] of Object.entries(p.headers)) res.setHeader(name, value);
        res.end(JSON.stringify(p.body));
      },
    );
  };
}
