/**
 * `tenancy serve`: run the control plane until SIGINT/SIGTERM, then close cleanly.
 */
import { relative } from 'node:path';
import { loadConfig, type ConfigFlags } from '../../config.js';
import { startControlPlane, type ServeRole } from '../../control-plane.js';
import { redactUrl } from '../../infra/sql/index.js';

/** Start serving; resolves with the exit code once a signal has closed the server. */
export async function serve(
  flags: ConfigFlags,
  io: { err: (line: string) => void },
  role: ServeRole = 'all',
): Promise<number> {
  const config = loadConfig(flags);
  const plane = await startControlPlane(config, { logger: { level: config.logLevel }, role });
  const shown = (p: string) => {
    const r = relative(process.cwd(), p);
    return r.startsWith('..') ? p : r;
  };
  io.err(
    role === 'gateway'
      ? `tenancy: model gateway listening on ${plane.url} (OpenAI-compatible API at ${plane.url}/v1/ai)`
      : `tenancy: control plane listening on ${plane.url}`,
  );
  io.err(
    `tenancy: state in ${config.databaseUrl ? `PostgreSQL at ${redactUrl(config.databaseUrl)}` : `${shown(config.dataDir)}/ (embedded PGlite)`}`,
  );
  if (plane.adminKeyFile)
    io.err(
      `tenancy: created a platform-admin token in ${shown(plane.adminKeyFile)} (mode 0600); the CLI reads it from there`,
    );
  else if (config.adminToken) io.err('tenancy: platform-admin token preset by TENANCY_ADMIN_TOKEN');
  io.err(`tenancy: API docs at ${plane.url}/docs`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      io.err(`tenancy: ${signal} received, shutting down`);
      plane.close().then(
        () => resolve(0),
        (error: unknown) => {
          io.err(`tenancy: shutdown failed: ${(error as Error).message}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
