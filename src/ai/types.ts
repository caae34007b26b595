/**
 * The model router's shared shapes: OpenAI's chat and embeddings wire format (what apps send
 * and receive), a catalogue entry as an adapter sees it, the adapter port every provider type
 * implements, and the error an upstream call fails with. A leaf: it imports nothing of the
 * control plane, so adapters, the ledger and the router all build on it.
 */

/** One chat message (OpenAI's shape; content parts are passed through untouched). */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string | Array<Record<string, unknown>> | null;
  name?: string;
  tool_calls?: Array<Record<string, unknown>>;
  tool_call_id?: string;
}

/** A chat completion request as sent upstream (`model` is already the upstream model). */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: Array<Record<string, unknown>>;
  tool_choice?: unknown;
  response_format?: Record<string, unknown>;
  seed?: number;
  user?: string;
  [extra: string]: unknown;
}

/** Token counts as OpenAI reports them. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** A whole chat answer. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; tool_calls?: Array<Record<string, unknown>> };
    finish_reason: string | null;
    logprobs?: null;
  }>;
  usage?: Usage;
}

/** One streamed piece of a chat answer (`usage` only on the last, when asked for). */
export interface ChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: Array<Record<string, unknown>> };
    finish_reason: string | null;
  }>;
  usage?: Usage | null;
}

/** An embeddings request as sent upstream. */
export interface EmbeddingsRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

/** An embeddings answer. */
export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** Provider types of the catalogue. */
export const PROVIDER_TYPES = ['openai', 'anthropic', 'openai-compatible', 'mock'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** A model of the catalogue. */
export interface CatalogueModel {
  /** The name apps and routers use. */
  name: string;
  /** The name the provider knows it by. */
  upstreamModel: string;
  inputUsdPerMTok: number;
  outputUsdPerMTok: number;
  contextWindow: number;
  /** `chat` (default) or `embedding`. */
  kind: 'chat' | 'embedding';
}

/** What an adapter needs to reach one provider (its key already opened). */
export interface ProviderTarget {
  /** The catalogue name of the provider. */
  name: string;
  type: ProviderType;
  /** Base URL, e.g. `https://api.openai.com/v1` (unused by `mock`). */
  baseUrl: string;
  region: string;
  /** The opened API key; never logged. */
  apiKey: string | undefined;
  /** Longest wait for the answer's first byte, and between two streamed chunks. */
  timeoutMs: number;
  /** `mock` only: added latency and the share of calls that fail with a 503. */
  mock?: { latencyMs: number; failureRate: number; seed?: string };
}

/** Per-call options of an adapter. */
export interface CallOptions {
  signal: AbortSignal;
}

/**
 * One provider type. `chatStream` yields OpenAI chunks; it throws {@link UpstreamError} on
 * an HTTP error before the first chunk, and on a broken, stalled or malformed stream after.
 */
export interface ProviderAdapter {
  chat(target: ProviderTarget, body: ChatRequest, options: CallOptions): Promise<ChatCompletion>;
  chatStream(target: ProviderTarget, body: ChatRequest, options: CallOptions): AsyncIterable<ChatChunk>;
  embeddings(target: ProviderTarget, body: EmbeddingsRequest, options: CallOptions): Promise<EmbeddingsResponse>;
}

/** Why an upstream call failed. */
/** `refused`: the router itself would not connect (a private address, a key it cannot open). */
export type UpstreamFailure = 'http' | 'timeout' | 'network' | 'protocol' | 'unsupported' | 'refused';

/** An upstream call failed; `retryable` says whether the same model may be tried again. */
export class UpstreamError extends Error {
  readonly kind: UpstreamFailure;
  /** The provider's HTTP status, when it answered. */
  readonly status: number | undefined;
  /** From the provider's `Retry-After`, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: UpstreamFailure,
    message: string,
    options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamError';
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** 429, 5xx, timeouts and broken connections may succeed on a retry; 4xx and garbage do not. */
  get retryable(): boolean {
    if (this.kind === 'timeout' || this.kind === 'network') return true;
    if (this.kind === 'http') return this.status === 429 || (this.status !== undefined && this.status >= 500);
    return false;
  }

  /** Whether the failure counts against the model's circuit breaker (the provider's fault, not the request's). */
  get countsAsFailure(): boolean {
    if (this.kind === 'unsupported' || this.kind === 'refused') return false;
    if (this.kind === 'http') return this.status === 429 || (this.status !== undefined && this.status >= 500);
    return true;
  }
}

/** The client went away before the answer began: nothing more is tried, nothing counts against the model. */
export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGone';
  }
}
