/**
 * Problem documents (RFC 9457) as both planes send them: the control plane's error handler and
 * the SDK's middleware build them here, so a client parses every refusal with one parser. The
 * `title` is the catalogue's for the code; `type` is a stable URN keyed by the code.
 */
import type { FieldError, TenancyError } from '../errors.js';
import { errorEntry } from './error-catalogue.js';

/** An RFC 9457 problem document with Tenancy's members. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  correlationId?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** The media type of every problem document. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** Titles for a code this version does not know (a code read off the wire), by status. */
const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Problem `type` URIs are stable URNs keyed by code. */
export function problemType(code: string): string {
  return `urn:tenancy:problem:${code}`;
}

/** The `title` of a code: the catalogue's, else the status's reason phrase. */
export function problemTitle(code: string, status: number): string {
  return errorEntry(code)?.title ?? STATUS_TITLES[status] ?? 'Error';
}

/** Build a problem document from its parts. */
export function problem(status: number, code: string, detail: string, extra: Partial<Problem> = {}): Problem {
  return { type: problemType(code), title: problemTitle(code, status), status, detail, code, ...extra };
}

/**
 * The problem document of a `TenancyError`, with its field errors and extension members.
 * Built member by member, without object spreads: a flood of refusals (a tenant far over its
 * rate limit) runs this for every request it sends.
 */
export function problemOf(error: TenancyError, status: number, instance: string, correlationId: string): Problem {
  const body: Problem = {
    type: problemType(error.code),
    title: problemTitle(error.code, status),
    status,
    detail: error.detail,
    code: error.code,
    instance,
    correlationId,
  };
  if (error.errors) body.errors = error.errors;
  const extensions = error.extensions;
  for (const name in extensions) body[name] = extensions[name];
  return body;
}

/** The bare 500 for anything that is not a `TenancyError`: no internals, only the correlation id. */
export function internalProblem(instance: string, correlationId: string): Problem {
  return problem(
    500,
    'internal_error',
    `an internal error occurred; quote correlation id ${correlationId} when reporting it`,
    {
      instance,
      correlationId,
    },
  );
}
