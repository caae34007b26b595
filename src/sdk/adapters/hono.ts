/**
 * Hono: `app.use(tenancyHono(tenancy))`. The rest of the chain is awaited inside the
 * request's scope. Typed structurally, so the SDK does not load Hono.
 */
import { toProblem } from '../problem.js';
import { runInScope } from '../request-context.js';
import { correlationOf, type Tenancy } from '../tenancy-sdk.js';

/** What the middleware uses of a Hono context. */
export interface HonoContextLike {
  req: { method: string; url: string; header(name: string): string | undefined };
  header(name: string, value: string): void;
  /** The response, once the chain has run. */
  res?: { status: number };
}

/** Hono middleware running the Tenancy pipeline. */
export function tenancyHono(
  tenancy: Tenancy,
): (c: HonoContextLike, next: () => Promise<void>) => Promise<Response | undefined> {
  return async (c, next) => {
    const url = new URL(c.req.url);
    const incoming = {
      method: c.req.method,
      url: url.pathname + url.search,
      header: (name: string) => c.req.header(name),
    };
    const correlation = correlationOf(incoming);
    let admission;
    try {
      admission = await tenancy.admit(incoming, correlation);
    } catch (error) {
      const p = toProblem(error, url.pathname, correlation.requestId);
      return new Response(JSON.stringify(p.body), { status: p.status, headers: p.headers });
    }
    for (const [name, value] of Object.entries(admission.headers)) c.header(name, value);
    try {
      await runInScope(admission.scope, () => next());
      admission.finished(c.res?.status ?? 200);
    } catch (error) {
      admission.finished(500);
      throw error;
    } finally {
      admission.release();
    }
    return undefined;
  };
}
