/**
 * `migrate` (roll the app's migrations out in waves, optionally waiting with progress) and
 * `get job`.
 */
import type { Job } from '../../controller/jobs.js';
import { request, CliError, type ClientOptions } from '../client.js';
import { showOne } from '../command-helpers.js';
import { outputFormat, structured, table } from '../output.js';

type Out = (line: string) => void;

interface TenantStatus {
  tenantId: string;
  wave: number;
  status: string;
  from?: string | null;
  to?: string | null;
  error?: string;
}

/** `get job <id>`. */
export async function getJob(client: ClientOptions, id: string, output: string | undefined, out: Out): Promise<void> {
  const format = outputFormat(output);
  await showOne<Job>(client, `/v1/jobs/${encodeURIComponent(id)}`, format, out, (job) =>
    out(
      table(
        ['ID', 'KIND', 'STATE', 'PROGRESS', 'ATTEMPTS', 'LAST ERROR'],
        [
          [
            job.id,
            job.kind,
            job.state,
            `${job.progress.done}/${job.progress.total}`,
            job.attempts,
            job.lastError ?? '-',
          ],
        ],
      ),
    ),
  );
}

/** Poll a job until it ends, printing progress when it changes; returns the finished job. */
export async function waitForJob(
  client: ClientOptions,
  id: string,
  out: Out,
  intervalMs = 250,
  timeoutMs = 3_600_000,
): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  let shown = '';
  for (;;) {
    const job = await request<Job>(client, 'GET', `/v1/jobs/${encodeURIComponent(id)}`);
    const line = `${job.state}: ${job.progress.done}/${job.progress.total}`;
    if (line !== shown) {
      out(line);
      shown = line;
    }
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    if (Date.now() > deadline)
      throw new CliError(`job ${id} did not finish in time; follow it with: tenancy get job ${id}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function parseWaves(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  return raw.split(',').map((w) => {
    const m = /^\s*(\d{1,3})%?\s*$/.exec(w);
    if (!m) throw new CliError(`--waves: "${w}" is not a percentage (use e.g. 10%,50%,100%)`, 2);
    return Number(m[1]);
  });
}

/** `migrate [--to V] [--waves 10%,50%,100%] [--concurrency N] [--tenant id ...] [--wait]`. */
export async function migrate(
  client: ClientOptions,
  o: { to?: string; waves?: string; concurrency?: string; tenant?: string[]; wait?: boolean; output?: string },
  out: Out,
): Promise<void> {
  const concurrency = o.concurrency === undefined ? undefined : Number(o.concurrency);
  if (concurrency !== undefined && !Number.isInteger(concurrency))
    throw new CliError(`--concurrency: "${o.concurrency}" is not a whole number`, 2);
  const body = {
    ...(o.to ? { to: o.to } : {}),
    ...(o.waves ? { waves: parseWaves(o.waves) } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(o.tenant?.length ? { tenants: o.tenant } : {}),
  };
  const job = await request<Job>(client, 'POST', '/v1/migrations', body);
  out(
    `migration run ${job.id} started (to ${String(job.params.to)}, waves ${(job.params.waves as number[]).map((w) => `${w}%`).join(',')})`,
  );
  if (!o.wait) {
    out(`follow it with: tenancy get job ${job.id}`);
    return;
  }
  const done = await waitForJob(client, job.id, out);
  const result = (done.result ?? {}) as {
    counts?: Record<string, number>;
    tenants?: TenantStatus[];
    waves?: Array<{ percent: number; tenants: number; applied: number; upToDate: number; failed: number }>;
  };
  const format = outputFormat(o.output);
  if (format !== 'table') out(structured(done, format));
  else {
    if (result.waves?.length)
      out(
        table(
          ['WAVE', 'TENANTS', 'APPLIED', 'UP TO DATE', 'FAILED'],
          result.waves.map((w, i) => [`${i + 1} (${w.percent}%)`, w.tenants, w.applied, w.upToDate, w.failed]),
        ),
      );
    const listed = (result.tenants ?? []).filter((t) => t.status !== 'up-to-date');
    if (listed.length)
      out(
        table(
          ['TENANT', 'WAVE', 'STATUS', 'FROM', 'TO', 'ERROR'],
          listed.map((t) => [t.tenantId, t.wave, t.status, t.from ?? '-', t.to ?? '-', t.error ?? '']),
        ),
      );
    const c = result.counts ?? {};
    out(
      `${done.state}: ${c.applied ?? 0} migrated, ${c.upToDate ?? 0} already up to date, ${c.failed ?? 0} failed, ${c.notRun ?? 0} not run`,
    );
  }
  if (done.state === 'failed') throw new CliError(done.lastError ?? 'the migration run failed');
}
