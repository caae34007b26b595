/**
 * The one error type that crosses module boundaries.
 * Every failure a user can cause is a `TenancyError` with a stable snake_case `code`,
 * an HTTP status and a public `detail`; the HTTP layer turns it into problem+json and the
 * CLI into one line. Anything else is a bug and is reported as an internal error.
 */

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
}

/** Base error with a stable `code`, an HTTP `status` and a `detail` that is safe to show. */
export class TenancyError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: string;
  readonly errors: FieldError[] | undefined;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: string, status: number, detail: string, options: TenancyErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TenancyError';
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.errors = options.errors;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

/** Input failed validation; `errors` lists every field problem. */
export function validationError(detail: string, errors: FieldError[], code = 'validation_failed'): TenancyError {
  return new TenancyError(code, 400, detail, { errors });
}

/** The named resource does not exist (or is not visible to the caller). */
export function notFound(code: string, detail: string): TenancyError {
  return new TenancyError(code, 404, detail);
}

/** The request conflicts with the current state. */
export function conflict(code: string, detail: string, extensions?: Record<string, unknown>): TenancyError {
  return new TenancyError(code, 409, detail, extensions ? { extensions } : {});
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
