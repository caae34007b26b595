/**
 * Read manifests from files: one YAML/JSON file, or a GitOps folder laid out as
 * `tenants/<id>/tenant.yaml` with optional `features.yaml`, `router.yaml`,
 * `data-sovereignty.yaml` and `policies/*.yaml`. Each document keeps its file path as its
 * `source`, so the server can check that its tenant id matches its folder.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { TenancyError } from '../errors.js';
import { parseManifestText } from './manifest-text.js';

/** One document read from disk. */
export interface ManifestFileItem {
  source: string;
  manifest: unknown;
}

const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(full)));
    else if (MANIFEST_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) files.push(full);
  }
  return files;
}

/** Read a file or a folder (recursively) into bundle items, in a stable order. */
export async function readManifestPath(path: string): Promise<ManifestFileItem[]> {
  const absolute = resolve(path);
  let info;
  try {
    info = await stat(absolute);
  } catch {
    throw new TenancyError('file_not_found', `${path}: no such file or directory`);
  }
  const files = info.isDirectory() ? await walk(absolute) : [absolute];
  if (files.length === 0) throw new TenancyError('no_manifests', `${path}: no .yaml, .yml or .json files found`);
  const items: ManifestFileItem[] = [];
  for (const file of files) {
    const fromCwd = relative(process.cwd(), file);
    const source = (fromCwd.startsWith('..') ? file : fromCwd).split(sep).join('/');
    const text = await readFile(file, 'utf8');
    for (const manifest of parseManifestText(text, source)) items.push({ source, manifest });
  }
  return items;
}
