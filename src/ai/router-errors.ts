/**
 * The errors the model router answers with: a budget window's 429 with `Retry-After` until it
 * resets, and the client's error for an upstream failure (timeouts 504, unusable answers 502,
 * a provider's refusal 400, its rate limiting 429).
 */
import { TenancyError } from '../errors.js';
import type { WindowUsage } from './budget-ledger.js';
import { UpstreamError, type EmbeddingsResponse } from './types.js';

/** A 429 for a budget window, with `Retry-After` until it resets. */
export function budgetError(
  code: 'budget_exhausted' | 'budget_threshold_reached',
  detail: string,
  w: WindowUsage,
): TenancyError {
  const seconds = Math.max(1, Math.ceil((w.resetsAt.getTime() - Date.now()) / 1000));
  return new TenancyError(code, detail, {
    headers: { 'retry-after': String(seconds) },
    extensions: {
      window: w.window,
      limitUsd: w.limitMicros === null ? null : w.limitMicros / 1e6,
      spentUsd: w.spentMicros / 1e6,
      reservedUsd: w.reservedMicros / 1e6,
      resetsAt: w.resetsAt.toISOString(),
    },
  });
}

/** The client's error for the last upstream failure of a walk. */
export function upstreamFailure(e: UpstreamError): TenancyError {
  if (e.kind === 'timeout')
    return new TenancyError('upstream_timeout', `no model answered in time: ${e.message}`, { cause: e });
  if (e.kind === 'protocol')
    return new TenancyError('upstream_bad_response', `the provider's answer was not usable: ${e.message}`, {
      cause: e,
    });
  if (e.kind === 'unsupported') return new TenancyError('upstream_error', e.message, { status: 400, cause: e });
  if (e.kind === 'refused') return new TenancyError('upstream_error', e.message, { cause: e });
  if (e.kind === 'http' && e.status === 429)
    return new TenancyError('upstream_error', `the provider is rate limiting: ${e.message}`, {
      status: 429,
      cause: e,
      ...(e.retryAfterMs !== undefined ? { headers: { 'retry-after': String(Math.ceil(e.retryAfterMs / 1000)) } } : {}),
    });
  if (e.kind === 'http' && e.status !== undefined && e.status < 500)
    return new TenancyError('upstream_error', `the provider refused the request: ${e.message}`, {
      status: 400,
      cause: e,
    });
  return new TenancyError('upstream_error', `every model of the chain failed; last: ${e.message}`, { cause: e });
}

export function codeOf(error: unknown): string {
  if (error instanceof TenancyError) return error.code;
  if (error instanceof UpstreamError) return upstreamFailure(error).code;
  return 'internal_error';
}

/** Float vectors as OpenAI's base64 encoding (little-endian float32), for clients that ask for it (the official client does). */
export function asBase64(response: EmbeddingsResponse): void {
  for (const d of response.data)
    if (Array.isArray(d.embedding)) d.embedding = Buffer.from(new Float32Array(d.embedding).buffer).toString('base64');
}
