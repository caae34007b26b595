/**
 * The isolation self-test's API probes: A, with a credential of every tenant role and a JWT,
 * aims every tenant-scoped route of the OpenAPI document at B and must get what the same call
 * aimed at a tenant that does not exist gets.
 */
import { randomBytes } from 'node:crypto';
import { TENANT_ROLES } from '../access/index.js';
import type { TenantView } from './probe-support.js';
import type { ApiRequest, ApiResponse, Probe, ProbeIds, ReportProbe, SelfTestDeps } from './self-test-types.js';

/** A comparable summary of an answer: its status and problem code. */
function shape(res: ApiResponse): string {
  const code = typeof res.body === 'object' && res.body !== null ? (res.body as { code?: string }).code : undefined;
  return `${res.status}${code ? ` ${code}` : ''}`;
}

/** A probe's outcome from the problems found: pass when none, else fail naming them. */
function failures(problems: string[]): Pick<Probe, 'outcome' | 'detail'> {
  return problems.length ? { outcome: 'fail', detail: problems.join('; ') } : { outcome: 'pass' };
}

/**
 * A attacks B over the API with a credential of every tenant role and a JWT: every tenant-scoped route, id
 * encodings, spoofed tenant headers and parameters; B's state must not change.
 */
export async function apiProbes(
  deps: SelfTestDeps,
  ids: ProbeIds & { ghost: string },
  report: ReportProbe,
): Promise<void> {
  const { api } = deps;
  const { a, b, ghost } = ids;
  // What B holds: a secret, an object, an API key (its id is probed by the key routes).
  await api({
    method: 'PUT',
    url: `/v1/tenants/${b}/secrets/probe-secret`,
    body: { value: `victim-${randomBytes(6).toString('hex')}` },
  });
  await api({
    method: 'PUT',
    url: `/v1/tenants/${b}/objects/probe.txt`,
    body: 'victim object',
    headers: { 'content-type': 'text/plain' },
  });
  const bKey = (
    await api({ method: 'POST', url: `/v1/tenants/${b}/api-keys`, body: { name: 'probe', role: 'viewer' } })
  ).body as { id: string };
  // A's credentials: one API key per tenant role, and a JWT.
  const creds: Array<{ name: string; token: string }> = [];
  for (const role of TENANT_ROLES) {
    const res = await api({
      method: 'POST',
      url: `/v1/tenants/${a}/api-keys`,
      body: { name: `isolation probe ${role}`, role },
    });
    if (res.status !== 201) throw new Error(`could not create a ${role} key for ${a}: ${res.status}`);
    creds.push({ name: role, token: (res.body as { token: string }).token });
  }
  const jwt = await api({ method: 'POST', url: '/v1/tokens', body: {}, token: creds[0]!.token });
  if (jwt.status === 200) creds.push({ name: 'owner JWT', token: (jwt.body as { token: string }).token });
  const before = await victimState(api, b);

  const doc = (await api({ method: 'GET', url: '/openapi.json' })).body as {
    paths: Record<string, Record<string, unknown>>;
  };
  const fill = (path: string, id: string) =>
    path
      .replace('{id}', id)
      .replace('{keyId}', bKey.id)
      .replace('{name}', 'probe-secret')
      .replace('{key}', 'probe.txt')
      .replace('{quota}', 'maxUsers')
      .replace(/\{[A-Za-z]+\}/g, 'probe');
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (!path.includes('{id}')) continue;
    for (const method of Object.keys(ops)) {
      const m = method.toUpperCase() as ApiRequest['method'];
      const body = m === 'GET' || m === 'DELETE' ? undefined : {};
      const headers: Record<string, string> | undefined =
        m === 'PATCH' ? { 'content-type': 'application/merge-patch+json' } : undefined;
      const differences: string[] = [];
      for (const cred of creds) {
        const aimAt = (id: string) =>
          api({ method: m, url: fill(path, id), body, token: cred.token, ...(headers ? { headers } : {}) });
        const victim = await aimAt(b);
        const none = await aimAt(ghost);
        if (victim.status < 400 || shape(victim) !== shape(none))
          differences.push(`${cred.name}: ${shape(victim)} (unknown tenant: ${shape(none)})`);
      }
      report({
        id: `api.${m.toLowerCase()} ${path}`,
        area: 'api',
        title: `${m} ${path} as every role of ${a}, aimed at ${b}, answers as for a tenant that does not exist`,
        ...failures(differences),
      });
    }
  }

  const encodings: Array<[string, (id: string) => string]> = [
    ['upper case', (id) => id.toUpperCase()],
    ['percent-encoded', (id) => [...id].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')],
    ['double-encoded', (id) => `%25${id.charCodeAt(0).toString(16)}${id.slice(1)}`],
    ['trailing slash', (id) => `${id}/`],
    ['dot segment', (id) => `./${id}`],
    ['parent segment', (id) => `${a}/../${id}`],
    ['encoded slash', (id) => `${a}%2F..%2F${id}`],
    ['leading space', (id) => `%20${id}`],
  ];
  for (const [name, encode] of encodings) {
    const differences: string[] = [];
    for (const suffix of ['', '/secrets', '/connection']) {
      for (const cred of creds) {
        const victim = await api({ method: 'GET', url: `/v1/tenants/${encode(b)}${suffix}`, token: cred.token });
        const none = await api({ method: 'GET', url: `/v1/tenants/${encode(ghost)}${suffix}`, token: cred.token });
        if (victim.status < 400 || shape(victim) !== shape(none) || JSON.stringify(victim.body).includes('victim-'))
          differences.push(`${cred.name} ${suffix || '/'}: ${shape(victim)} vs ${shape(none)}`);
      }
    }
    report({
      id: `api.encoding.${name}`,
      area: 'api',
      title: `B's id ${name} in the path does not reach B`,
      ...failures(differences),
    });
  }

  const lists = [
    '/v1/audit',
    '/v1/jobs',
    '/v1/events',
    '/v1/usage/report',
    '/v1/principal',
    '/v1/approvals',
    '/v1/webhooks',
    '/v1/tenants',
  ];
  const leaks: string[] = [];
  for (const route of lists) {
    for (const cred of creds) {
      for (const [how, request] of [
        ['X-Tenant-ID', { method: 'GET', url: route, token: cred.token, headers: { 'x-tenant-id': b } }],
        ['?tenant=', { method: 'GET', url: `${route}?tenant=${b}`, token: cred.token }],
        ['plain', { method: 'GET', url: route, token: cred.token }],
      ] as Array<[string, ApiRequest]>) {
        const res = await api(request);
        // A's own records (its denied requests name B because A named B) are A's business.
        if (res.status < 400 && JSON.stringify(withoutOwn(res.body, a)).includes(b))
          leaks.push(`${cred.name} ${how} ${route}: ${res.status} names ${b}`);
      }
    }
  }
  report({
    id: 'api.spoofing',
    area: 'api',
    title: `a spoofed X-Tenant-ID or ?tenant= on the list routes shows A nothing of ${b}`,
    ...failures(leaks.slice(0, 20)),
  });

  const after = await victimState(api, b);
  report({
    id: 'api.state',
    area: 'api',
    title: `${b}'s state is unchanged after every probe`,
    outcome: after === before ? 'pass' : 'fail',
    ...(after === before ? {} : { detail: `before ${before}; after ${after}` }),
  });
}

/** The body without list items that belong to `tenant` (its own audit records, events, jobs). */
function withoutOwn(body: unknown, tenant: string): unknown {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { items?: unknown }).items)) return body;
  const items = (body as { items: Array<Record<string, unknown>> }).items.filter(
    (i) => i.tenantId !== tenant && i.tenantid !== tenant && i.tenant !== tenant,
  );
  return { ...body, items };
}

/** What an attack could change of the victim: its spec and phase, secrets, keys and objects. */
async function victimState(api: SelfTestDeps['api'], id: string): Promise<string> {
  const parts = await Promise.all(
    [
      `/v1/tenants/${id}`,
      `/v1/tenants/${id}/secrets`,
      `/v1/tenants/${id}/api-keys`,
      `/v1/tenants/${id}/objects`,
      `/v1/tenants/${id}/secrets/probe-secret`,
    ].map((url) => api({ method: 'GET', url })),
  );
  const t = parts[0]!.body as TenantView;
  return JSON.stringify([t.metadata.generation, t.status.phase, t.spec, ...parts.slice(1).map((p) => p.body)]);
}
