/**
 * `tenancy serve` as a real process: first start writes admin.key (0600), the data dir is
 * locked against a second process, SIGTERM closes cleanly, state survives a restart, and
 * bad configuration stops start-up with one line.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = resolve('bin/tenancy.js');

function start(
  dataDir: string,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): {
  child: ChildProcessWithoutNullStreams;
  url: Promise<string>;
  exit: Promise<{ code: number | null; stderr: string }>;
} {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir, ...extraArgs], {
    env: { ...process.env, TENANCY_LOG_LEVEL: 'warn', TENANCY_ADMIN_TOKEN: '', TENANCY_DATABASE_URL: '', ...env },
  });
  let stderr = '';
  const url = new Promise<string>((resolveUrl, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) resolveUrl(m[1]!);
    });
    child.on('exit', () => reject(new Error(`exited before listening: ${stderr}`)));
  });
  url.catch(() => undefined);
  const exit = new Promise<{ code: number | null; stderr: string }>((r) =>
    child.on('exit', (code) => r({ code, stderr })),
  );
  return { child, url, exit };
}

describe('tenancy serve (process)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('bootstraps, locks its data dir, shuts down cleanly and keeps state', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tenancy-serve-'));
    dirs.push(dataDir);
    const first = start(dataDir);
    const url = await first.url;
    const keyFile = join(dataDir, 'admin.key');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const token = (await readFile(keyFile, 'utf8')).trim();
    expect(token).toMatch(/^tnc_[0-9a-f]{16}_/);
    const created = await fetch(`${url}/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'tenancy/v1',
        kind: 'Tenant',
        metadata: { id: 'persisted' },
        spec: { name: 'Persisted', plan: 'free' },
      }),
    });
    expect(created.status).toBe(201);

    const second = start(dataDir);
    const secondExit = await second.exit;
    expect(secondExit.code).not.toBe(0);
    expect(secondExit.stderr.trim().split('\n')).toHaveLength(1);
    expect(secondExit.stderr).toContain('is in use by another tenancy process');

    first.child.kill('SIGTERM');
    const firstExit = await first.exit;
    expect(firstExit.code).toBe(0);
    expect(firstExit.stderr).toContain('SIGTERM received, shutting down');

    const third = start(dataDir);
    const url3 = await third.url;
    const got = await fetch(`${url3}/v1/tenants/persisted`, { headers: { authorization: `Bearer ${token}` } });
    expect(got.status).toBe(200);
    expect(((await got.json()) as any).status.phase).toBe('active');
    expect(await readFile(keyFile, 'utf8')).toBe(`${token}\n`);
    third.child.kill('SIGINT');
    expect((await third.exit).code).toBe(0);
  }, 60_000);

  it.each([
    [['--port', 'abc'], {}, 'invalid configuration: --port / TENANCY_PORT must be a number'],
    [['--port', '70000'], {}, 'invalid configuration: --port / TENANCY_PORT must be 0..65535'],
    [
      [],
      { TENANCY_DATABASE_URL: 'mysql://x' },
      'invalid configuration: TENANCY_DATABASE_URL must be a postgres:// URL',
    ],
    [[], { TENANCY_ADMIN_TOKEN: 'short' }, 'invalid configuration: TENANCY_ADMIN_TOKEN must be at least 16 characters'],
    [[], { TENANCY_LOG_LEVEL: 'loud' }, 'invalid configuration: TENANCY_LOG_LEVEL must be one of'],
    [
      [],
      { TENANCY_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' },
      'cannot connect to PostgreSQL at postgres://postgres@127.0.0.1:1/none',
    ],
    [
      [],
      { TENANCY_WAREHOUSE_URL: 'postgres://postgres@127.0.0.1:1/warehouse' },
      'cannot prepare the warehouse at postgres://postgres@127.0.0.1:1/warehouse',
    ],
    [[], { TENANCY_NATS_URL: 'nats://127.0.0.1:1' }, 'cannot connect to NATS at nats://127.0.0.1:1'],
  ])(
    'stops with one line for bad configuration %j %j',
    async (args, env, message) => {
      const dataDir = await mkdtemp(join(tmpdir(), 'tenancy-badcfg-'));
      dirs.push(dataDir);
      const { exit } = start(dataDir, args, {
        TENANCY_WAREHOUSE_URL: '',
        TENANCY_NATS_URL: '',
        TENANCY_S3_URL: '',
        ...env,
      });
      const { code, stderr } = await exit;
      expect(code).not.toBe(0);
      const lines = stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(message);
    },
    30_000,
  );
});
