/**
 * The root key wraps every tenant key. Embedded default: generated on first start into
 * `<data dir>/root.key` (mode 0600). Production: `TENANCY_ROOT_KEY_FILE` or
 * `TENANCY_ROOT_KEY` (base64 of 32 bytes). It is never logged and never stored in the
 * database; the database keeps only a check value that proves which key is in use.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TenancyError } from '../errors.js';

/** A loaded root key. */
export interface RootKey {
  /** Short public id (hash prefix), stored beside what it wraps. */
  id: string;
  key: Buffer;
  /** File it came from, when file-based (root rotation writes there). */
  file: string | undefined;
}

/** Build a root key from 32 raw bytes. */
export function rootKeyFrom(key: Buffer, file?: string): RootKey {
  return { id: createHash('sha256').update('tenancy-root-key-id:').update(key).digest('hex').slice(0, 16), key, file };
}

function decode(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || key.length !== 32) {
    throw new TenancyError('invalid_root_key', `${where} must hold a base64-encoded 32-byte key`);
  }
  return key;
}

/** Load the root key from the environment or file, generating the embedded default when allowed. */
export async function loadRootKey(options: {
  env?: string | undefined;
  file?: string | undefined;
  defaultFile: string;
}): Promise<RootKey> {
  if (options.env) return rootKeyFrom(decode(options.env, 'TENANCY_ROOT_KEY'));
  if (options.file) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (cause) {
      throw new TenancyError(
        'root_key_missing',
        `cannot read the root key file ${options.file} (TENANCY_ROOT_KEY_FILE): ${(cause as Error).message}`,
        { cause },
      );
    }
    return rootKeyFrom(decode(text, `the root key file ${options.file}`), options.file);
  }
  try {
    return rootKeyFrom(
      decode(await readFile(options.defaultFile, 'utf8'), `the root key file ${options.defaultFile}`),
      options.defaultFile,
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(32);
  await mkdir(dirname(options.defaultFile), { recursive: true });
  try {
    await writeFile(options.defaultFile, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return rootKeyFrom(
      decode(await readFile(options.defaultFile, 'utf8'), `the root key file ${options.defaultFile}`),
      options.defaultFile,
    );
  }
  await chmod(options.defaultFile, 0o600);
  return rootKeyFrom(key, options.defaultFile);
}
