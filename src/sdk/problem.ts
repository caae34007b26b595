/**
 * Problem documents the SDK answers with: the same RFC 9457 shape and codes as the control
 * plane (`urn:tenancy:problem:<code>`), so a client handles both planes with one parser.
 */
import { internalProblem, PROBLEM_CONTENT_TYPE, type Problem, problemOf } from '../contract/index.js';
import { TenancyError } from '../errors.js';

export { PROBLEM_CONTENT_TYPE };

/** An RFC 9457 problem document with Tenancy's members (the contract's `Problem`). */
export type ProblemBody = Problem;

/** A refusal ready to send: status, headers and body. */
export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: ProblemBody;
}

/** The path of a request target (`/notes?x=1` -> `/notes`): a problem's `instance`. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Turn any error into a problem response. Non-Tenancy errors become a bare 500 that names
 * only the correlation id, so no internals leak to the caller.
 */
export function toProblem(error: unknown, instance: string, correlationId: string): ProblemResponse {
  if (error instanceof TenancyError) {
    const status = error.status;
    const headers: Record<string, string> = {};
    const given = error.headers;
    for (const name in given) headers[name] = given[name]!;
    headers['X-Request-Id'] = correlationId;
    headers['content-type'] = PROBLEM_CONTENT_TYPE;
    return { status, headers, body: problemOf(error, status, instance, correlationId) };
  }
  return {
    status: 500,
    headers: { 'X-Request-Id': correlationId, 'content-type': PROBLEM_CONTENT_TYPE },
    body: internalProblem(instance, correlationId),
  };
}
