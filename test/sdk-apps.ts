/**
 * Small apps guarded by the SDK, one per framework, for the SDK suites: each serves the
 * same routes on 127.0.0.1 (an OS-picked port), and every route reads the tenant from
 * `currentTenant()` after an await, so a lost scope shows up as a failure.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import {
  currentScope,
  currentTenant,
  tenancyExpress,
  tenancyFastify,
  tenancyHono,
  tenantFetch,
  type Tenancy,
} from '../src/sdk/index.js';

export type AdapterName = 'fastify' | 'express' | 'hono';
export const ADAPTERS: AdapterName[] = ['fastify', 'express', 'hono'];

/** A running app. */
export interface GuardedApp {
  url: string;
  /** Requests to `/slow` wait until this is called. */
  releaseSlow(): void;
  close(): Promise<void>;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** What every route answers: the tenant as seen at once and after an await, and the principal. */
async function whoami(echoUrl: string | undefined): Promise<Record<string, unknown>> {
  const first = currentTenant().id;
  await sleep(1);
  const scope = currentScope()!;
  const echoed = echoUrl ? await (await tenantFetch(echoUrl)).json() : undefined;
  return {
    tenant: first,
    afterAwait: currentTenant().id,
    keyId: scope.principal.keyId,
    requestId: scope.requestId,
    quotas: scope.tenant.quotas,
    echoed,
  };
}

/** Start an app of `kind` guarded by `tenancy`; `echoUrl` is called with `tenantFetch` when given. */
export async function startGuardedApp(kind: AdapterName, tenancy: Tenancy, echoUrl?: string): Promise<GuardedApp> {
  let gate = deferred();
  const releaseSlow = () => {
    gate.resolve();
    gate = deferred();
  };
  if (kind === 'fastify') {
    const app = Fastify();
    tenancyFastify(app, tenancy);
    app.get('/whoami', async () => whoami(echoUrl));
    app.post('/things', async () => whoami(undefined));
    app.get('/slow', async () => {
      await gate.promise;
      return whoami(undefined);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      releaseSlow,
      close: () => app.close(),
    };
  }
  if (kind === 'express') {
    const app = express();
    app.use(tenancyExpress(tenancy));
    app.get('/whoami', async (_req, res) => void res.json(await whoami(echoUrl)));
    app.post('/things', async (_req, res) => void res.json(await whoami(undefined)));
    app.get('/slow', async (_req, res) => {
      await gate.promise;
      res.json(await whoami(undefined));
    });
    return listen(createServer(app), releaseSlow);
  }
  const app = new Hono();
  app.use(tenancyHono(tenancy));
  app.get('/whoami', async (c) => c.json(await whoami(echoUrl)));
  app.post('/things', async (c) => c.json(await whoami(undefined)));
  app.get('/slow', async (c) => {
    await gate.promise;
    return c.json(await whoami(undefined));
  });
  // Hono speaks fetch; a tiny Node bridge serves it over HTTP like the others.
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const response = await app.fetch(
      new Request(`http://127.0.0.1${req.url}`, { method: req.method!, headers, ...(body ? { body } : {}) }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  return listen(server, releaseSlow);
}

async function listen(server: Server, releaseSlow: () => void): Promise<GuardedApp> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    releaseSlow,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Call an app; returns status, headers and parsed body. */
export async function get(
  url: string,
  token: string | null,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Assert an RFC 9457 problem with `status` and `code`. */
export function problemOf(res: { status: number; headers: Headers; body: any }): {
  status: number;
  code: string;
  type: string;
  contentType: string | null;
} {
  return {
    status: res.status,
    code: res.body?.code,
    type: res.body?.type,
    contentType: res.headers.get('content-type'),
  };
}
