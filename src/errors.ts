/**
 * The one error type that crosses module boundaries.
 * Every failure a user can cause is a `TenancyError` with a stable snake_case `code` from the
 * error catalogue (`contract/error-catalogue.ts`, which also gives its HTTP status and title)
 * and a public `detail`; the HTTP layer turns it into problem+json and the CLI into one line.
 * Anything else is a bug and is reported as an internal error.
 */
import { ERROR_CATALOGUE, type ErrorCode } from './contract/error-catalogue.js';

/** One field-level problem; `path` is a JSON pointer into the input. */
export interface FieldError {
  path: string;
  message: string;
}

/** Options for {@link TenancyError}: extra problem members, field errors and the wrapped cause. */
export interface TenancyErrorOptions {
  errors?: FieldError[];
  cause?: unknown;
  /** Extra members added to the problem document (e.g. `phase`, `limit`). */
  extensions?: Record<string, unknown>;
  /** Response headers that belong to this error (e.g. `Retry-After`). */
  headers?: Record<string, string>;
  /** One of the code's `also` statuses, where the situation calls for it; default: the catalogue's. */
  status?: number;
}

/** Base error with a stable `code`, an HTTP `status` and a `detail` that is safe to show. */
export class TenancyError extends Error {
  /** A catalogue code (an error read off the wire, {@link errorFromWire}, may carry a newer one). */
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string;
  readonly errors: FieldError[] | undefined;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, detail: string, options: TenancyErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TenancyError';
    this.code = code;
    this.status = options.status ?? ERROR_CATALOGUE[code]?.status ?? 500;
    this.detail = detail;
    this.errors = options.errors;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

/**
 * A problem another Tenancy process answered with (the SDK reading the control plane's reply):
 * its code and status are kept as sent, even a code this version's catalogue does not know.
 */
export function errorFromWire(
  code: string,
  status: number,
  detail: string,
  options: Omit<TenancyErrorOptions, 'status'> = {},
): TenancyError {
  return new TenancyError(code as ErrorCode, detail, { ...options, status });
}

/** Input failed validation; `errors` lists every field problem. */
export function validationError(
  detail: string,
  errors: FieldError[],
  code: ErrorCode = 'validation_failed',
): TenancyError {
  return new TenancyError(code, detail, { errors });
}

/** The named resource does not exist (or is not visible to the caller). */
export function notFound(code: ErrorCode, detail: string): TenancyError {
  return new TenancyError(code, detail);
}

/** The request conflicts with the current state. */
export function conflict(code: ErrorCode, detail: string, extensions?: Record<string, unknown>): TenancyError {
  return new TenancyError(code, detail, extensions ? { extensions } : {});
}

/** Type guard that survives module duplication (checks the shape, not only the prototype). */
export function isTenancyError(error: unknown): error is TenancyError {
  return error instanceof TenancyError;
}

/** Escape one JSON-pointer segment (RFC 6901). */
export function pointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Build a JSON pointer from path segments. */
export function toPointer(path: ReadonlyArray<string | number | symbol>): string {
  if (path.length === 0) return '';
  return `/${path.map((p) => pointerSegment(typeof p === 'symbol' ? String(p.description) : p)).join('/')}`;
}
