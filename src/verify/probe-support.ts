/**
 * What every probe family of the isolation self-test uses: reading and waiting on the probe
 * tenants over the API, their connection descriptors, and connections that must be refused.
 */
import pg from 'pg';
import { isolationContext, type IsolationContext } from '../isolation/index.js';
import type { TenantSpec } from '../tenants/index.js';
import type { Probe, SelfTestDeps } from './self-test-types.js';

/** SQLSTATEs that mean the database refused (no privilege, no such object, no login…). */
const REFUSED = new Set(['42501', '42P01', '3F000', '42704', '28000', '28P01', '3D000', '0LP01', '42P17', '22023']);
/** How long the self-test waits for the control plane to do something. */
export const TIMEOUT_MS = 90_000;

/** A probe tenant as the API shows it, the fields the probes read. */
export interface TenantView {
  metadata: { generation: number };
  spec: TenantSpec;
  status: {
    phase: string;
    observedGeneration: number;
    placement?: { profile: string; movingFrom?: string | null };
    purgedAt?: string | null;
    conditions: Array<{ type: string; message: string }>;
  };
}

/** Read a probe tenant; throws unless it is there. */
export async function tenant(api: SelfTestDeps['api'], id: string): Promise<TenantView> {
  const res = await api({ method: 'GET', url: `/v1/tenants/${id}` });
  if (res.status !== 200) throw new Error(`GET /v1/tenants/${id} answered ${res.status}`);
  return res.body as TenantView;
}

/**
 * Read with `read` every 100 ms until `done` says so or {@link TIMEOUT_MS} has passed;
 * `done: false` comes with the last value read.
 */
export async function poll<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
): Promise<{ done: boolean; last: T }> {
  const until = Date.now() + TIMEOUT_MS;
  for (;;) {
    const last = await read();
    if (done(last)) return { done: true, last };
    if (Date.now() > until) return { done: false, last };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Wait for a probe tenant to reach a state; throws, naming its phase and conditions, when it does not in time. */
export async function waitFor(
  api: SelfTestDeps['api'],
  id: string,
  done: (t: TenantView) => boolean,
  what = 'the expected state',
): Promise<TenantView> {
  const { done: reached, last: t } = await poll(() => tenant(api, id), done);
  if (reached) return t;
  throw new Error(
    `probe tenant ${id} did not reach ${what} in time (phase ${t.status.phase}; ${t.status.conditions.map((c) => `${c.type}: ${c.message}`).join('; ')})`,
  );
}

/** Wait for a job to end: its final state, or `still <state>` when it did not end in time. */
export async function waitJob(api: SelfTestDeps['api'], id: string): Promise<string> {
  const { done, last } = await poll(
    async () => (await api({ method: 'GET', url: `/v1/jobs/${id}` })).body as { state?: string },
    (job) => job.state === 'succeeded' || job.state === 'failed',
  );
  return done ? last.state! : `still ${last.state ?? 'unknown'}`;
}

/** A tenant's database connection descriptor, as the API hands it to the tenant. */
export interface Descriptor {
  url: string | null;
  role: string;
  database: string;
  schema: string;
}

/** Read a tenant's connection descriptor; throws unless the API gives it. */
export async function descriptor(api: SelfTestDeps['api'], id: string): Promise<Descriptor> {
  const res = await api({ method: 'GET', url: `/v1/tenants/${id}/connection` });
  if (res.status !== 200) throw new Error(`GET /v1/tenants/${id}/connection answered ${res.status}`);
  return (res.body as { database: Descriptor }).database;
}

/** Connect to `url`, optionally to another database or as another user (with a wrong password). */
export async function connect(url: string, options: { database?: string; user?: string } = {}): Promise<pg.Client> {
  const u = new URL(url);
  if (options.database !== undefined) u.pathname = `/${options.database}`;
  if (options.user !== undefined) {
    u.username = options.user;
    u.password = 'not-the-password';
  }
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Connect to `url`, run `work`, and close the connection whatever happens. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Run `attempt`; a refusal (an SQLSTATE of the refused kind) is what passes. */
export async function refused(attempt: () => Promise<unknown>): Promise<{ refused: boolean; detail: string }> {
  try {
    await attempt();
    return { refused: false, detail: 'allowed' };
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    return { refused: REFUSED.has(code), detail: `${code} ${(error as Error).message}`.slice(0, 200) };
  }
}

/** A database probe that passes when the attempt was refused. */
export function refusalProbe(id: string, title: string, r: { refused: boolean; detail: string }): Probe {
  return { id, area: 'database', title, outcome: r.refused ? 'pass' : 'fail', detail: r.detail };
}

/** A probe tenant's isolation context, from its spec and placement. */
export async function placement(api: SelfTestDeps['api'], id: string): Promise<IsolationContext> {
  const t = await tenant(api, id);
  return isolationContext(id, t.spec, t.status.placement?.profile);
}
