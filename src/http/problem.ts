/**
 * The one error handler: `TenancyError` and Fastify's own client errors become RFC 9457
 * `application/problem+json`; anything else is logged with its correlation id and
 * answered as a bare 500 with no internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { internalProblem, PROBLEM_CONTENT_TYPE, type Problem, problem, problemOf } from '../contract/index.js';
import { TenancyError } from '../errors.js';

export { type Problem, problem };

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

/** Send a problem document. */
export function sendProblem(reply: FastifyReply, body: Problem, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(body.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(body);
}

/**
 * The problem document for an error: a `TenancyError` as it is (5xx other than 503 as a bare
 * 500 unless `keepStatus`: the model gateway answers 502 and 504 as such), Fastify's client
 * errors with stable codes, anything else logged and answered as a bare 500.
 */
export function problemFor(
  error: FastifyError | Error,
  request: FastifyRequest,
  keepStatus = false,
): { body: Problem; headers: Record<string, string> } {
  const base = { instance: request.url.split('?')[0]!, correlationId: request.id };
  if (error instanceof TenancyError) {
    const status = !keepStatus && error.status >= 500 && error.status !== 503 ? 500 : error.status;
    if (status >= 500 && !keepStatus) request.log.error({ err: error }, 'request failed');
    return { body: problemOf(error, status, base.instance, base.correlationId), headers: error.headers ?? {} };
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
    return { body: problem(fe.statusCode, code, detail, base), headers: {} };
  }
  request.log.error({ err: error }, 'unhandled error');
  return { body: internalProblem(base.instance, base.correlationId), headers: {} };
}

/** Fastify error handler. */
export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { body, headers } = problemFor(error, request);
  return sendProblem(reply, body, headers);
}
