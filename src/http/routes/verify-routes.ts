/**
 * `POST /v1/verify/isolation`: run the isolation self-test against this deployment and
 * answer its report (platform admins only; it creates, attacks and purges two tenants).
 * The probes call this server in process with the caller's own credential.
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../tenants/index.js';
import { verifyIsolation, type ApiRequest, type ApiResponse } from '../../verify/index.js';
import type { Guard, HttpDeps } from '../context.js';

export const verifyIsolationSchema = z.strictObject({ dryRun: z.boolean().optional() }).meta({ id: 'VerifyIsolation' });

/** Register the verification routes. */
export function verifyRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  app.post('/v1/verify/isolation', async (request) => {
    await guard.authorize(request, 'isolation.verify');
    const body = parseOrThrow(verifyIsolationSchema, request.body ?? {}, 'the request');
    const setup = deps.isolation.isolationSelfTest();
    // What a run would do, without making anything.
    if (body.dryRun)
      return {
        dryRun: true,
        engine: setup.databases.engine,
        areas: ['api', setup.databases.engine === 'postgres' ? 'database' : 'database (embedded: in-process probes)'],
        migrations: setup.migrations,
      };
    const caller = request.headers.authorization!;
    const api = async (r: ApiRequest): Promise<ApiResponse> => {
      const headers: Record<string, string> = {
        authorization: r.token ? `Bearer ${r.token}` : caller,
        ...(r.headers ?? {}),
      };
      const options: InjectOptions = { method: r.method, url: r.url, headers };
      if (r.body !== undefined) {
        if (typeof r.body === 'string') options.payload = r.body;
        else {
          options.payload = JSON.stringify(r.body);
          headers['content-type'] ??= 'application/json';
        }
      }
      const res = await app.inject(options);
      let body: unknown = res.body;
      try {
        body = JSON.parse(res.body);
      } catch {
        /* not JSON: keep the text */
      }
      return { status: res.statusCode, body };
    };
    return verifyIsolation({ api, ...setup });
  });
}
