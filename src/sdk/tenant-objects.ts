/**
 * The current tenant's objects, through the control plane's object handles
 * (`/v1/tenants/{id}/objects/{key}`): keys are confined to the tenant's place, and every
 * write is held to its `storageLimitBytes` (409 `quota_exceeded` with limit and current).
 * Calls default to the tenant of the current request.
 */
import { errorFromWire, TenancyError } from '../errors.js';
import { propagationHeaders } from './propagation.js';
import { currentTenant } from './request-context.js';

/** Options: the control plane and the app's credential (needs `object.read` / `object.write`). */
export interface TenantObjectsOptions {
  url: string;
  token: string;
  timeoutMs?: number;
}

/** An object's metadata. */
export interface TenantObjectInfo {
  key: string;
  size: number;
  etag: string;
  contentType: string;
}

/** Objects of the current tenant. */
export class TenantObjectsClient {
  readonly #url: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: TenantObjectsOptions) {
    this.#url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async #call(method: string, path: string, body?: Buffer, contentType?: string): Promise<Response> {
    const headers: Record<string, string> = { ...propagationHeaders(), authorization: `Bearer ${this.#token}` };
    if (contentType) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(this.#url + path, {
        method,
        headers,
        ...(body ? { body } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new TenancyError('control_plane_unavailable', 'the Tenancy control plane could not be reached', {
        cause,
        headers: { 'Retry-After': '1' },
      });
    }
    if (res.ok || res.status === 404) return res;
    const text = await res.text();
    let problem: Record<string, unknown> = {};
    try {
      problem = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    if (res.status >= 500)
      throw new TenancyError('control_plane_error', `the Tenancy control plane answered ${res.status}`);
    const {
      type: _t,
      title: _ti,
      status: _s,
      detail,
      code,
      instance: _i,
      correlationId: _c,
      errors: _e,
      ...extensions
    } = problem;
    throw errorFromWire(
      typeof code === 'string' ? code : `http_${res.status}`,
      res.status,
      typeof detail === 'string' ? detail : `the control plane answered ${res.status}`,
      { extensions },
    );
  }

  #path(tenantId: string, key?: string): string {
    const base = `/v1/tenants/${encodeURIComponent(tenantId)}/objects`;
    return key === undefined ? base : `${base}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Write `body` at `key`; 409 `quota_exceeded` when the tenant's storage would go over its limit. */
  async put(
    key: string,
    body: Buffer | string,
    options: { contentType?: string; tenantId?: string } = {},
  ): Promise<TenantObjectInfo> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const res = await this.#call(
      'PUT',
      this.#path(options.tenantId ?? currentTenant().id, key),
      bytes,
      options.contentType ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream'),
    );
    if (res.status === 404) throw new TenancyError('tenant_not_found', 'the tenant was not found');
    return (await res.json()) as TenantObjectInfo;
  }

  /** The object's bytes and type, or undefined when there is none. */
  async get(
    key: string,
    options: { tenantId?: string } = {},
  ): Promise<{ body: Buffer; contentType: string } | undefined> {
    const res = await this.#call('GET', this.#path(options.tenantId ?? currentTenant().id, key));
    if (res.status === 404) {
      const p = (await res.json().catch(() => ({}))) as { code?: string };
      if (p.code === 'object_not_found') return undefined;
      throw errorFromWire(p.code ?? 'not_found', 404, 'not found');
    }
    return {
      body: Buffer.from(await res.arrayBuffer()),
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
    };
  }

  /** Delete an object (a missing one is success); whether it was there. */
  async delete(key: string, options: { tenantId?: string } = {}): Promise<boolean> {
    const res = await this.#call('DELETE', this.#path(options.tenantId ?? currentTenant().id, key));
    if (res.status === 404) throw new TenancyError('tenant_not_found', 'the tenant was not found');
    return ((await res.json()) as { deleted: boolean }).deleted;
  }

  /** A page of the tenant's objects in key order. */
  async list(
    options: { prefix?: string; after?: string; limit?: number; tenantId?: string } = {},
  ): Promise<{ items: TenantObjectInfo[]; next: string | null }> {
    const q = new URLSearchParams();
    if (options.prefix !== undefined) q.set('prefix', options.prefix);
    if (options.after !== undefined) q.set('after', options.after);
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    const res = await this.#call('GET', `${this.#path(options.tenantId ?? currentTenant().id)}?${q}`);
    if (res.status === 404) throw new TenancyError('tenant_not_found', 'the tenant was not found');
    return (await res.json()) as { items: TenantObjectInfo[]; next: string | null };
  }
}
