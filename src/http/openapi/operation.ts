/**
 * The compact description of one API operation that the OpenAPI builder expands.
 */
import type { z } from 'zod';

/** One operation: its summary, tags, request body component, query schema and response shape. */
export type Op = {
  summary: string;
  tags: string[];
  body?: string;
  query?: z.ZodObject;
  ok: number;
  okSchema?: string;
  okType?: string;
  ifMatch?: boolean;
  idempotent?: boolean;
  public?: boolean;
  csv?: boolean;
  /** Also answers `application/pdf` when asked for it. */
  pdf?: boolean;
  raw?: boolean;
  /** Errors in OpenAI's body (`{"error": {message, type, param, code}}`), not problem+json. */
  openAi?: boolean;
  /** Also answers `text/event-stream` (server-sent events) when the request asks to stream. */
  stream?: boolean;
};

/** Operations by path, then by lower-case HTTP method; key order is the document's order. */
export type Operations = Record<string, Record<string, Op>>;
