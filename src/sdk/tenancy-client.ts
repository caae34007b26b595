/**
 * A small client for the control plane. Calls made while a request is in scope carry that
 * request's tenant, request id and trace; the SDK's own background calls (event feed, cache
 * fills) go without them, so they are never scoped to one caller's tenant.
 *
 * It speaks `node:http` over a keep-alive agent rather than `fetch`: the event feed polls
 * several times a second for the app's lifetime, and `fetch` loads Node's bundled undici and
 * web streams (about 15 MiB of RSS in an app that does not use it otherwise) and allocates
 * several times more per call.
 */
import http from 'node:http';
import https from 'node:https';
import { errorFromWire, TenancyError } from '../errors.js';
import { propagationHeaders } from './propagation.js';
import type { ConnectionDescriptor, Principal, TenancyEvent, TenantContext } from './types.js';

/** Options for {@link TenancyClient}. */
export interface TenancyClientOptions {
  /** Base URL of the control plane, e.g. `http://127.0.0.1:7480`. */
  url: string;
  /** The app's own credential (a platform API key or JWT): reads contexts, events, connections. */
  token: string;
  /** Per-call timeout (default 5000 ms). */
  timeoutMs?: number;
}

/** Per-call options. */
export interface CallOptions {
  body?: unknown;
  /** Call with this credential instead of the app's (e.g. to resolve a caller's API key). */
  token?: string;
  /** Add the current request's propagation headers (default true). */
  propagate?: boolean;
  headers?: Record<string, string>;
}

/** Client for the control plane's HTTP API v1. */
export class TenancyClient {
  readonly url: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #transport: typeof http | typeof https;
  readonly #agent: http.Agent;

  constructor(options: TenancyClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    const secure = new URL(this.url).protocol === 'https:';
    this.#transport = secure ? https : http;
    // Idle keep-alive sockets are unref'd by the agent: they never hold the app's process open.
    this.#agent = new this.#transport.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 4 });
  }

  /** Close the kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  /** Call `method path`; a non-2xx answer becomes a `TenancyError` with the problem's code and status. */
  async request<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(options.propagate === false ? {} : propagationHeaders()),
      ...options.headers,
      authorization: `Bearer ${options.token ?? this.#token}`,
    };
    const body = options.body !== undefined ? JSON.stringify(options.body) : undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    let res: { status: number; text: string; retryAfter: string | null };
    try {
      res = await this.#send(method, this.url + path, headers, body);
    } catch (cause) {
      throw new TenancyError('control_plane_unavailable', 'the Tenancy control plane could not be reached', {
        cause,
        headers: { 'Retry-After': '1' },
      });
    }
    if (res.status >= 200 && res.status < 300) return (res.text === '' ? undefined : JSON.parse(res.text)) as T;
    throw problemError(res.status, res.text, res.retryAfter);
  }

  /** One HTTP exchange, the whole of it (connect to last byte) within the timeout. */
  #send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ status: number; text: string; retryAfter: string | null }> {
    return new Promise((resolve, reject) => {
      const req = this.#transport.request(url, { method, headers, agent: this.#agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          clearTimeout(timer);
          const retryAfter = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            text,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
          });
        });
        res.on('aborted', () => fail(new Error('the control plane closed the connection mid-answer')));
        res.on('error', fail);
      });
      const fail = (error: Error): void => {
        clearTimeout(timer);
        req.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      req.on('error', fail);
      req.end(body);
    });
  }

  /** The principal an API key (or JWT) belongs to. */
  principal(credential: string): Promise<Principal> {
    return this.request<Principal>('GET', '/v1/principal', { token: credential, propagate: false });
  }

  /** The tenant context (plan, phase, quotas, features, region). */
  context(tenantId: string): Promise<TenantContext> {
    return this.request<TenantContext>('GET', `/v1/tenants/${encodeURIComponent(tenantId)}/context`, {
      propagate: false,
    });
  }

  /** The tenant's connection descriptor (needs `connection.read`; audited by the control plane). */
  connection(tenantId: string): Promise<ConnectionDescriptor> {
    return this.request<ConnectionDescriptor>('GET', `/v1/tenants/${encodeURIComponent(tenantId)}/connection`, {
      propagate: false,
    });
  }

  /** A page of events after the cursor `after`, oldest first. */
  events(
    after: number | undefined,
    limit = 1000,
    type?: string,
  ): Promise<{ items: TenancyEvent[]; next: number | null; head?: number }> {
    const query = [
      ...(after !== undefined ? [`after=${after}`] : []),
      `limit=${limit}`,
      ...(type ? [`type=${encodeURIComponent(type)}`] : []),
    ].join('&');
    return this.request('GET', `/v1/events?${query}`, { propagate: false });
  }

  /** URL of the control plane's JWKS. */
  jwksUrl(): URL {
    return new URL(`${this.url}/.well-known/jwks.json`);
  }
}

/**
 * Rebuild the control plane's refusal. 5xx answers become 502 `control_plane_error`: the
 * app's caller did nothing wrong, and the control plane's internals stay out of the answer.
 */
function problemError(status: number, text: string, retryAfter: string | null = null): TenancyError {
  let body: { code?: unknown; detail?: unknown; [member: string]: unknown } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not JSON: fall through with the status alone
  }
  if (status >= 500) return new TenancyError('control_plane_error', `the Tenancy control plane answered ${status}`);
  const code = typeof body.code === 'string' ? body.code : `http_${status}`;
  const detail = typeof body.detail === 'string' ? body.detail : `the Tenancy control plane answered ${status}`;
  // Keep the problem's own members (a quota refusal's quota, limit, current) and field errors.
  const {
    type: _type,
    title: _title,
    status: _status,
    detail: _detail,
    code: _code,
    instance: _instance,
    correlationId: _correlationId,
    errors,
    ...extensions
  } = body;
  return errorFromWire(code, status, detail, {
    extensions,
    ...(Array.isArray(errors) ? { errors: errors as Array<{ path: string; message: string }> } : {}),
    ...(retryAfter !== null ? { headers: { 'Retry-After': retryAfter } } : {}),
  });
}
