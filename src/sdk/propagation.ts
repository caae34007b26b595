/**
 * Headers an outbound call carries so the next service sees the same tenant and the same
 * trace: `X-Tenant-ID`, `X-Request-Id`, and a W3C `traceparent` for a new child span.
 */
import { randomBytes } from 'node:crypto';
import { currentScope } from './request-context.js';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;

/** The propagation headers of the current request (empty outside one). */
export function propagationHeaders(): Record<string, string> {
  const scope = currentScope();
  if (!scope) return {};
  const headers: Record<string, string> = { 'x-tenant-id': scope.tenant.id, 'x-request-id': scope.requestId };
  const m = scope.traceparent ? TRACEPARENT.exec(scope.traceparent) : null;
  // Same trace, new span id: the outbound call is a child of the span that reached us.
  if (m) headers.traceparent = `${m[1]}-${m[2]}-${randomBytes(8).toString('hex')}-${m[3]}`;
  return headers;
}

/** `fetch` that adds the propagation headers (the caller's own headers win). */
export function tenantFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(propagationHeaders())) if (!headers.has(name)) headers.set(name, value);
  return fetch(input, { ...init, headers });
}
