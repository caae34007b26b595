/**
 * The platform app's SQL migrations (a folder named in config): files named
 * `<version>_<name>.sql`, applied in version order to every tenant's schema or database.
 * The folder is read and checked once at start-up, so a misnamed, duplicate or empty file
 * stops the control plane with one line instead of failing tenant by tenant later.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TenancyError } from '../../errors.js';

/** One migration file. */
export interface AppMigration {
  /** Digits from the file name, e.g. `0002`; ordered numerically. */
  version: string;
  name: string;
  sql: string;
  /** SHA-256 of the file, so an edited applied migration is noticed. */
  checksum: string;
}

/** The whole set, in order. */
export interface MigrationSet {
  dir: string;
  migrations: AppMigration[];
  /** The last version, or null for an empty set. */
  latest: string | null;
}

const FILE = /^(\d{1,12})_([a-z0-9][a-z0-9_-]{0,99})\.sql$/;

const invalid = (message: string) => new TenancyError('invalid_migration_set', message);

/** Compare two versions numerically. */
export function compareVersions(a: string, b: string): number {
  return Number(BigInt(a) - BigInt(b));
}

/** The same version written the canonical way (`2` and `0002` are one version). */
export function sameVersion(a: string, b: string): boolean {
  return BigInt(a) === BigInt(b);
}

/** Read and check the folder. */
export async function loadMigrationSet(dir: string): Promise<MigrationSet> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (cause) {
    throw new TenancyError(
      'invalid_migration_set',
      `cannot read the migration folder ${dir}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const migrations: AppMigration[] = [];
  for (const file of names.sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE.exec(file);
    if (!m)
      throw invalid(
        `migration file ${join(dir, file)} must be named <version>_<name>.sql (digits, then lowercase letters, digits, _ or -)`,
      );
    const sql = await readFile(join(dir, file), 'utf8');
    if (sql.trim() === '') throw invalid(`migration file ${join(dir, file)} is empty`);
    if (/^\s*(begin|commit|rollback)\s*;/im.test(sql))
      throw invalid(
        `migration file ${join(dir, file)} manages its own transaction; each migration already runs in one`,
      );
    const version = m[1]!;
    const clash = migrations.find((x) => sameVersion(x.version, version));
    if (clash) throw invalid(`migration files ${clash.version}_${clash.name}.sql and ${file} share version ${version}`);
    migrations.push({ version, name: m[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  migrations.sort((a, b) => compareVersions(a.version, b.version));
  return { dir, migrations, latest: migrations.at(-1)?.version ?? null };
}
