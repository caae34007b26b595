/**
 * Output formats for the CLI: aligned tables, JSON and YAML.
 */
import { stringify } from 'yaml';
import { CliError } from './client.js';

export type OutputFormat = 'table' | 'json' | 'yaml';

/** Validate `-o`. */
export function outputFormat(value: string | undefined): OutputFormat {
  const v = value ?? 'table';
  if (v !== 'table' && v !== 'json' && v !== 'yaml')
    throw new CliError(`unknown output format "${v}" (use table, json or yaml)`);
  return v;
}

/** Render rows as an aligned table with a header. */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('   '))
    .join('\n');
}

/** Render a value as JSON or YAML. */
export function structured(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : stringify(value).trimEnd();
}

/** "3m", "2h", "5d" since an ISO timestamp. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}
