/**
 * Problem documents the SDK answers with: the same RFC 9457 shape and codes as the control
 * plane (`urn:tenancy:problem:<code>`), so a client handles both planes with one parser.
 */
import { TenancyError } from '../errors.js';

/** An RFC 9457 problem document with Tenancy's members. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  correlationId?: string;
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** The media type of every refusal. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

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
  // Built member by member, without object spreads: a flood of refusals (a tenant far over
  // its rate limit) runs this for every request it sends.
  if (error instanceof TenancyError) {
    const status = error.status;
    const headers: Record<string, string> = {};
    const given = error.headers;
    for (const name in given) headers[name] = given[name]!;
    headers['X-Request-Id'] = correlationId;
    headers['content-type'] = PROBLEM_CONTENT_TYPE;
    const body: ProblemBody = {
      type: `urn:tenancy:problem:${error.code}`,
      title: TITLES[status] ?? 'Error',
      status,
      detail: error.detail,
      code: error.code,
      instance,
      correlationId,
    };
    // Field errors as the control plane answers them (`errors[].path` names the field).
    if (error.errors) body.errors = error.errors;
    const extensions = error.extensions;
    for (const name in extensions) body[name] = extensions[name];
    return { status, headers, body };
  }
  return {
    status: 500,
    headers: { 'X-Request-Id': correlationId, 'content-type': PROBLEM_CONTENT_TYPE },
    body: {
      type: 'urn:tenancy:problem:internal_error',
      title: TITLES[500]!,
      status: 500,
      detail: `an internal error occurred; quote correlation id ${correlationId} when reporting it`,
      code: 'internal_error',
      instance,
      correlationId,
    },
  };
}
