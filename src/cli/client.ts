/**
 * The CLI's HTTP client: base URL from `TENANCY_URL`, token from `TENANCY_TOKEN` or the
 * data dir's `admin.key`. Problem documents become a {@link CliError} with one line.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** An error the CLI prints as one line before exiting non-zero. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Where to reach the control plane, and with what credential. */
export interface ClientOptions {
  url: string;
  token: string | undefined;
}

/** Resolve the client settings from the environment. */
export function clientOptions(env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const url = (env.TENANCY_URL ?? 'http://127.0.0.1:7480').replace(/\/+$/, '');
  try {
    new URL(url);
  } catch {
    throw new CliError(`TENANCY_URL is not a URL: ${url}`);
  }
  let token = env.TENANCY_TOKEN?.trim() || undefined;
  if (!token) {
    const file = join(resolve(env.TENANCY_DATA_DIR ?? '.tenancy'), 'admin.key');
    try {
      token = readFileSync(file, 'utf8').trim() || undefined;
    } catch {
      token = undefined;
    }
  }
  return { url, token };
}

/** Call the API; returns the parsed JSON body or throws a one-line CliError. */
export async function request<T>(
  options: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const h: Record<string, string> = { accept: 'application/json', ...headers };
  if (options.token) h.authorization = `Bearer ${options.token}`;
  if (body !== undefined) h['content-type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  let response: Response;
  try {
    response = await fetch(options.url + path, {
      method,
      headers: h,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new CliError(
      `cannot reach the control plane at ${options.url} (${cause}); is "tenancy serve" running? (set TENANCY_URL)`,
    );
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const p = parsed as
      | { detail?: string; code?: string; errors?: Array<{ path: string; message: string }> }
      | undefined;
    if (response.status === 401 && !options.token) {
      throw new CliError('no credentials: set TENANCY_TOKEN, or run from the directory that holds .tenancy/admin.key');
    }
    const fields = p?.errors?.length ? `: ${p.errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}` : '';
    throw new CliError(`${p?.detail ?? `HTTP ${response.status}`}${fields} [${p?.code ?? response.status}]`);
  }
  return parsed as T;
}
