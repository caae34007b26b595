/**
 * Small helpers over `app.inject` for API suites.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { ADMIN_TOKEN, type TestPlane } from './engines.js';

export type Res = LightMyRequestResponse & { body: string; json: <T = any>() => T };

/** Call the API as `token` (default: the platform admin). */
export async function call(
  plane: TestPlane,
  method: InjectOptions['method'],
  url: string,
  body?: unknown,
  options: { token?: string | null; headers?: Record<string, string> } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const opts: InjectOptions = { method, url, headers };
  if (body !== undefined) {
    if (typeof body === 'string') opts.payload = body;
    else {
      opts.payload = JSON.stringify(body);
      headers['content-type'] ??= method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    }
  }
  return (await plane.app.inject(opts)) as Res;
}

/** Assert a problem+json response with `status` and `code`; returns the problem. */
export function expectProblem(res: Res, status: number, code: string): any {
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const p = res.json();
  expect({ status: res.statusCode, code: p.code }).toEqual({ status, code });
  expect(p.status).toBe(status);
  expect(typeof p.title).toBe('string');
  expect(typeof p.detail).toBe('string');
  expect(p.type).toBe(`urn:tenancy:problem:${code}`);
  return p;
}

/** A minimal valid manifest. */
export function manifest(
  id: string,
  spec: Record<string, unknown> = {},
  labels?: Record<string, string>,
): Record<string, unknown> {
  return {
    apiVersion: 'tenancy/v1',
    kind: 'Tenant',
    metadata: { id, ...(labels ? { labels } : {}) },
    spec: { name: `Tenant ${id}`, plan: 'pro', ...spec },
  };
}

/** Create a tenant and wait until the controller made it active. */
export async function createActive(
  plane: TestPlane,
  id: string,
  spec: Record<string, unknown> = {},
  labels?: Record<string, string>,
): Promise<any> {
  const res = await call(plane, 'POST', '/v1/tenants', manifest(id, spec, labels));
  expect(res.statusCode, res.body).toBe(201);
  return waitForPhase(plane, id, 'active');
}

/** Poll until a tenant reaches `phase` (the controller runs asynchronously). */
export async function waitForPhase(plane: TestPlane, id: string, phase: string, timeoutMs = 10_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    await plane.controller.idle();
    const res = await call(plane, 'GET', `/v1/tenants/${id}`);
    const t = res.json();
    if (t.status?.phase === phase) return t;
    if (Date.now() > until)
      throw new Error(`tenant ${id} is ${t.status?.phase}, not ${phase}: ${JSON.stringify(t.status?.conditions)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Create a tenant API key with `role`; returns its token and id. */
export async function tenantKey(
  plane: TestPlane,
  tenant: string,
  role: string,
): Promise<{ token: string; id: string }> {
  const res = await call(plane, 'POST', `/v1/tenants/${tenant}/api-keys`, { name: `${role} key`, role });
  expect(res.statusCode, res.body).toBe(201);
  return { token: res.json().token, id: res.json().id };
}

/**
 * Count rows of a control-plane table, once the controller has finished what earlier
 * calls gave it (a reconcile writes audit records and events of its own, in the background,
 * which belong to no request). For the outbox, without the `audit.checkpoint` events the
 * audit anchorer writes in the background (every few seconds while records are appended).
 */
export async function countRows(
  plane: TestPlane,
  table: 'tenants' | 'audit_log' | 'api_keys' | 'tenant_documents' | 'outbox',
): Promise<number> {
  await plane.controller.idle();
  const db = plane.database.db;
  const r =
    table === 'outbox'
      ? await db
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('type', '<>', 'audit.checkpoint')
          .executeTakeFirstOrThrow()
      : await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
  return Number(r.n);
}
