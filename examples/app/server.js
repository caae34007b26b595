// @ts-check
/**
 * Run the notes app: `node examples/app/server.js` (after `npm run build`).
 *
 * TENANCY_URL (default http://127.0.0.1:7480) and TENANCY_TOKEN (a platform-operator API
 * key; default: the contents of .tenancy/admin.key) reach the control plane;
 * NOTES_STORAGE is `postgres` (needs TENANCY_WAREHOUSE_URL on the control plane) or
 * `memory` (default); PORT (default 3000) and HOST (default 127.0.0.1) are where it listens;
 * TENANCY_REDIS_URL shares rate limits between instances; TENANCY_NATS_URL takes events from NATS.
 */
import { readFile } from 'node:fs/promises';
import { buildNotesApp } from './app.js';

const env = process.env;
const token = env.TENANCY_TOKEN ?? (await readFile('.tenancy/admin.key', 'utf8')).trim();
const app = await buildNotesApp({
  controlPlaneUrl: env.TENANCY_URL ?? 'http://127.0.0.1:7480',
  token,
  storage: env.NOTES_STORAGE === 'postgres' ? 'postgres' : 'memory',
  limits: {
    perCredential: { points: 50, durationSeconds: 1 },
    ...(env.TENANCY_REDIS_URL ? { redisUrl: env.TENANCY_REDIS_URL } : {}),
  },
  ...(env.TENANCY_NATS_URL ? { natsUrl: env.TENANCY_NATS_URL } : {}),
});
const address = await app.listen({ host: env.HOST ?? '127.0.0.1', port: Number(env.PORT ?? 3000) });
console.log(`notes app on ${address}`);
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void app.close().then(() => process.exit(0)));
