/**
 * Translation between OpenAI's chat wire format and Anthropic's Messages API: the request
 * (system prompt lifted out, turns merged so roles alternate, tools and tool results as content
 * blocks), the whole answer, and the streamed events as OpenAI chunks. Pure: no I/O.
 */
import {
  type ChatChunk,
  type ChatCompletion,
  type ChatMessage,
  type ChatRequest,
  type Usage,
  UpstreamError,
} from '../types.js';

/** The Messages API version the adapter speaks (sent as `anthropic-version`). */
export const ANTHROPIC_VERSION = '2023-06-01';

/** Output tokens asked for when the request names no limit (Anthropic requires one). */
export const DEFAULT_MAX_TOKENS = 4096;

type Block = Record<string, unknown>;

/** One turn of a Messages API conversation. */
export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | Block[];
}

/** A Messages API request body. */
export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  stream?: boolean;
  tools?: Array<{ name: string; description?: string; input_schema: Record<string, unknown> }>;
  tool_choice?: Record<string, unknown>;
  metadata?: { user_id: string };
}

/**
 * The Messages API request for an OpenAI chat request. Parameters Anthropic has no use for
 * (`seed`, `response_format`, `stream_options`, …) are dropped; content it cannot carry (audio,
 * files, non-function tools, tool arguments that are not a JSON object) is an `unsupported` failure.
 */
export function toAnthropicRequest(body: ChatRequest, stream: boolean): AnthropicRequest {
  const system: string[] = [];
  const turns: Array<{ role: 'user' | 'assistant'; blocks: Block[] }> = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    // Anthropic wants user and assistant turns to alternate: a run of one role becomes one turn.
    if (last?.role === role) last.blocks.push(...blocks);
    else turns.push({ role, blocks });
  };
  for (const message of body.messages) {
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOf(message.content);
        if (text !== '') system.push(text);
        break;
      }
      case 'user':
        push('user', contentBlocks(message.content));
        break;
      case 'assistant':
        push('assistant', [...contentBlocks(message.content), ...(message.tool_calls ?? []).map(toolUse)]);
        break;
      case 'tool':
        push('user', [toolResult(message)]);
        break;
      default:
        throw unsupported(`anthropic providers take no "${String((message as { role: unknown }).role)}" messages`);
    }
  }

  const maxTokens = body.max_tokens ?? body.max_completion_tokens;
  const request: AnthropicRequest = {
    model: body.model,
    max_tokens: typeof maxTokens === 'number' ? maxTokens : DEFAULT_MAX_TOKENS,
    messages: turns.map(({ role, blocks }) => ({
      role,
      content: blocks.length === 1 && blocks[0]!.type === 'text' ? (blocks[0]!.text as string) : blocks,
    })),
  };
  if (system.length > 0) request.system = system.join('\n\n');
  if (typeof body.temperature === 'number') request.temperature = body.temperature;
  if (typeof body.top_p === 'number') request.top_p = body.top_p;
  const stop = (typeof body.stop === 'string' ? [body.stop] : (body.stop ?? [])).filter((s) => typeof s === 'string');
  if (stop.length > 0) request.stop_sequences = stop;
  if (body.tools && body.tools.length > 0 && body.tool_choice !== 'none') {
    request.tools = body.tools.map(toTool);
    const choice = toToolChoice(body.tool_choice, body.parallel_tool_calls);
    if (choice) request.tool_choice = choice;
  }
  if (typeof body.user === 'string' && body.user !== '') request.metadata = { user_id: body.user };
  if (stream) request.stream = true;
  return request;
}

/** The text of a message's content: a string as is, content parts' text run together. */
function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  return (content ?? [])
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/** Content as Anthropic blocks; empty text is left out, since Anthropic refuses empty text blocks. */
function contentBlocks(content: ChatMessage['content']): Block[] {
  if (content === null || content === undefined || content === '') return [];
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return content.flatMap((part) => {
    if (part.type === 'text')
      return typeof part.text === 'string' && part.text !== '' ? [{ type: 'text', text: part.text }] : [];
    if (part.type === 'image_url') return [imageBlock(part.image_url)];
    throw unsupported(`anthropic providers take no "${String(part.type)}" content parts`);
  });
}

function imageBlock(ref: unknown): Block {
  const url = typeof ref === 'string' ? ref : isRecord(ref) ? ref.url : undefined;
  if (typeof url !== 'string') throw unsupported('an image_url content part has no url');
  const inline = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (inline) return { type: 'image', source: { type: 'base64', media_type: inline[1], data: inline[2] } };
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw unsupported('an image must be a base64 data: URL or an http(s) URL');
}

function toolUse(call: Record<string, unknown>): Block {
  const fn = isRecord(call.function) ? call.function : {};
  if (typeof call.id !== 'string' || typeof fn.name !== 'string') throw unsupported('a tool call has no id or name');
  const args = typeof fn.arguments === 'string' && fn.arguments.trim() !== '' ? fn.arguments : '{}';
  let input: unknown;
  try {
    input = JSON.parse(args);
  } catch {
    // reported below: Anthropic takes a JSON object as a tool call's input, nothing else
  }
  if (!isRecord(input)) throw unsupported(`the arguments of tool call ${call.id} are not a JSON object`);
  return { type: 'tool_use', id: call.id, name: fn.name, input };
}

function toolResult(message: ChatMessage): Block {
  if (typeof message.tool_call_id !== 'string') throw unsupported('a tool message has no tool_call_id');
  const content = typeof message.content === 'string' ? message.content : contentBlocks(message.content);
  return { type: 'tool_result', tool_use_id: message.tool_call_id, ...(content.length > 0 ? { content } : {}) };
}

function toTool(tool: Record<string, unknown>): NonNullable<AnthropicRequest['tools']>[number] {
  const fn = tool.type === 'function' && isRecord(tool.function) ? tool.function : undefined;
  if (!fn || typeof fn.name !== 'string') throw unsupported('anthropic providers take function tools only');
  return {
    name: fn.name,
    ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
    input_schema: isRecord(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
  };
}

/** OpenAI's `tool_choice` (and `parallel_tool_calls: false`); `none` is handled by sending no tools. */
function toToolChoice(choice: unknown, parallel: unknown): Record<string, unknown> | undefined {
  const serial = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === 'required') return { type: 'any', ...serial };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string')
    return { type: 'tool', name: choice.function.name, ...serial };
  if (choice === 'auto' || parallel === false) return { type: 'auto', ...serial };
  return undefined;
}

/** The OpenAI answer for a Messages API message; anything else is a `protocol` failure. */
export function fromAnthropicMessage(raw: unknown, model: string, now = Date.now()): ChatCompletion {
  if (!isRecord(raw) || typeof raw.id !== 'string' || !Array.isArray(raw.content))
    throw protocol('the provider answered with something other than a message');
  const usage = toUsage(raw.usage);
  if (!usage) throw protocol("the provider's message has no token usage");
  let text = '';
  const toolCalls: Array<Record<string, unknown>> = [];
  for (const block of raw.content as unknown[]) {
    if (!isRecord(block)) throw protocol("the provider's message has a malformed content block");
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string')
        throw protocol("a tool call of the provider's message has no id or name");
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  return {
    id: raw.id,
    object: 'chat.completion',
    created: Math.floor(now / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          // OpenAI answers a pure tool call with null content.
          content: text === '' && toolCalls.length > 0 ? null : text,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: finishReason(raw.stop_reason),
        logprobs: null,
      },
    ],
    usage,
  };
}

/** Anthropic's `stop_reason` as OpenAI's `finish_reason`. */
export function finishReason(stop: unknown): string | null {
  switch (stop) {
    case null:
    case undefined:
      return null;
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/** Prompt tokens count the cached ones too (written and read), as OpenAI's do. */
function promptTokens(usage: Record<string, unknown>): number {
  return num(usage.input_tokens) + num(usage.cache_creation_input_tokens) + num(usage.cache_read_input_tokens);
}

function toUsage(raw: unknown): Usage | undefined {
  if (!isRecord(raw) || typeof raw.input_tokens !== 'number' || typeof raw.output_tokens !== 'number') return undefined;
  const prompt = promptTokens(raw);
  return { prompt_tokens: prompt, completion_tokens: raw.output_tokens, total_tokens: prompt + raw.output_tokens };
}

/**
 * The OpenAI chunks of one Messages API stream, fed one event's data at a time. Tool calls are
 * numbered in order of appearance (OpenAI's `index`), not by Anthropic's content block index.
 * `done` turns true at `message_stop`, after the last chunk, which carries the usage.
 */
export class AnthropicStream {
  done = false;
  readonly #model: string;
  readonly #created: number;
  #id: string | undefined;
  #promptTokens = 0;
  #completionTokens = 0;
  readonly #toolIndex = new Map<number, number>();

  constructor(model: string, now = Date.now()) {
    this.#model = model;
    this.#created = Math.floor(now / 1000);
  }

  /** The chunks one event stands for; an `error` event is thrown as an `http` failure. */
  read(data: unknown): ChatChunk[] {
    if (!isRecord(data) || typeof data.type !== 'string') throw protocol("the provider's stream has a malformed event");
    if (data.type === 'ping') return [];
    if (data.type === 'error') throw streamError(data.error);
    if (data.type === 'message_start') return this.#start(data.message);
    if (this.#id === undefined) throw protocol(`the provider's stream sent ${data.type} before message_start`);
    switch (data.type) {
      case 'content_block_start':
        return this.#blockStart(data.index, data.content_block);
      case 'content_block_delta':
        return this.#blockDelta(data.index, data.delta);
      case 'message_delta': {
        if (isRecord(data.usage)) this.#count(data.usage);
        return [this.#chunk({}, finishReason(isRecord(data.delta) ? data.delta.stop_reason : undefined))];
      }
      case 'message_stop': {
        this.done = true;
        const total = this.#promptTokens + this.#completionTokens;
        return [
          {
            ...this.#chunk({}, null),
            choices: [],
            usage: {
              prompt_tokens: this.#promptTokens,
              completion_tokens: this.#completionTokens,
              total_tokens: total,
            },
          },
        ];
      }
      default:
        // content_block_stop needs nothing; Anthropic may add event types, which are to be skipped.
        return [];
    }
  }

  #start(message: unknown): ChatChunk[] {
    if (!isRecord(message) || typeof message.id !== 'string') throw protocol("the provider's message_start has no id");
    this.#id = message.id;
    if (isRecord(message.usage)) this.#count(message.usage);
    return [this.#chunk({ role: 'assistant', content: '' }, null)];
  }

  #blockStart(index: unknown, block: unknown): ChatChunk[] {
    if (typeof index !== 'number' || !isRecord(block))
      throw protocol("the provider's stream has a malformed content block");
    if (block.type === 'text' && typeof block.text === 'string' && block.text !== '')
      return [this.#chunk({ content: block.text }, null)];
    if (block.type !== 'tool_use') return [];
    if (typeof block.id !== 'string' || typeof block.name !== 'string')
      throw protocol("a tool call of the provider's stream has no id or name");
    const at = this.#toolIndex.size;
    this.#toolIndex.set(index, at);
    const call = { index: at, id: block.id, type: 'function', function: { name: block.name, arguments: '' } };
    return [this.#chunk({ tool_calls: [call] }, null)];
  }

  #blockDelta(index: unknown, delta: unknown): ChatChunk[] {
    if (!isRecord(delta)) throw protocol("the provider's stream has a malformed delta");
    if (delta.type === 'text_delta' && typeof delta.text === 'string')
      return [this.#chunk({ content: delta.text }, null)];
    if (delta.type !== 'input_json_delta' || typeof delta.partial_json !== 'string' || delta.partial_json === '')
      return [];
    const at = typeof index === 'number' ? this.#toolIndex.get(index) : undefined;
    if (at === undefined) throw protocol("the provider's stream sent tool input for no tool call");
    return [this.#chunk({ tool_calls: [{ index: at, function: { arguments: delta.partial_json } }] }, null)];
  }

  /** Counts are running totals: `message_delta` restates output (and, lately, input) tokens. */
  #count(usage: Record<string, unknown>): void {
    if (typeof usage.input_tokens === 'number') this.#promptTokens = promptTokens(usage);
    if (typeof usage.output_tokens === 'number') this.#completionTokens = usage.output_tokens;
  }

  #chunk(delta: ChatChunk['choices'][number]['delta'], finish: string | null): ChatChunk {
    return {
      id: this.#id ?? '',
      object: 'chat.completion.chunk',
      created: this.#created,
      model: this.#model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    };
  }
}

/** An `error` event of the stream: overloaded is Anthropic's 529, anything else a 500. */
function streamError(error: unknown): UpstreamError {
  const type = isRecord(error) && typeof error.type === 'string' ? error.type : 'error';
  const message = isRecord(error) && typeof error.message === 'string' ? error.message : '(no message)';
  return new UpstreamError('http', `the provider's stream failed with ${type}: ${message.slice(0, 300)}`, {
    status: type === 'overloaded_error' ? 529 : 500,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

function protocol(message: string): UpstreamError {
  return new UpstreamError('protocol', message);
}

function unsupported(message: string): UpstreamError {
  return new UpstreamError('unsupported', message);
}
