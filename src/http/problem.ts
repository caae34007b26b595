/**
 * The one error handler: `TenancyError` and Fastify's own client errors become RFC 9457
 * `application/problem+json`; anything else is logged with its correlation id and
 * answered as a bare 500 with no internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { TenancyError, type FieldError } from '../errors.js';

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

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Map Fastify's client-error codes to stable Tenancy codes. */
const FASTIFY_CODES: Record<string, { code: string; detail?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    detail: 'send application/json (application/merge-patch+json for PATCH, application/yaml for manifests)',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: 'payload_too_large',
    detail: 'the request body is larger than the limit for this endpoint',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'invalid_json',
    detail: 'the body is empty; send a JSON document (at least {})',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_content_length' },
  FST_ERR_CTP_INVALID_TYPE: { code: 'unsupported_media_type' },
  FST_ERR_BAD_URL: { code: 'invalid_url' },
};

/** Problem `type` URIs are stable URNs keyed by code. */
export function problemType(code: string): string {
  return `urn:tenancy:problem:${code}`;
}

/** Build a problem document. */
export function problem(status: number, code: string, detail: string, extra: Partial<Problem> = {}): Problem {
  return { type: problemType(code), title: TITLES[status] ?? 'Error', status, detail, code, ...extra };
}

/** Send a problem document. */
export function sendProblem(reply: FastifyReply, body: Problem, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(body.status).headers(headers).type('application/problem+json; charset=utf-8').send(body);
}

/** Fastify error handler. */
export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const base = { instance: request.url.split('?')[0]!, correlationId: request.id };
  if (error instanceof TenancyError) {
    const status = error.status >= 500 && error.status !== 503 ? 500 : error.status;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(
      reply,
      problem(status, error.code, error.detail, {
        ...base,
        ...(error.errors ? { errors: error.errors } : {}),
        ...error.extensions,
      }),
      error.headers,
    );
  }
  const fe = error as FastifyError;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    const code =
      mapped?.code ??
      (fe.statusCode === 413
        ? 'payload_too_large'
        : fe.statusCode === 415
          ? 'unsupported_media_type'
          : fe.statusCode === 400 && error instanceof SyntaxError
            ? 'invalid_json'
            : 'bad_request');
    const detail =
      mapped?.detail ?? (code === 'invalid_json' ? `the body is not valid JSON: ${error.message}` : error.message);
    return sendProblem(reply, problem(fe.statusCode, code, detail, base));
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(
    reply,
    problem(
      500,
      'internal_error',
      `an internal error occurred; quote correlation id ${request.id} when reporting it`,
      base,
    ),
  );
}
