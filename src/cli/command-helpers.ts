/**
 * What the command files share: the query string of the filters given, and printing what a
 * GET answers, as JSON or YAML when asked, else as a table. The caller checks `-o` first, so
 * a bad format is reported before anything is requested.
 */
import { request, type ClientOptions } from './client.js';
import { type OutputFormat, structured, table } from './output.js';

type Out = (line: string) => void;
type Cell = string | number | null | undefined;

/** How a list prints as a table; `empty` is printed instead when there are no items (if given). */
export interface ListView<T> {
  headers: string[];
  row: (item: T) => Cell[];
  empty?: string;
}

/** The filters that are set, as a query string. */
export function filterParams(filters: Record<string, string | undefined>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== undefined) params.set(k, v);
  return params;
}

/** GET `path` and print the answer: structured when `format` asks, else through `print`. */
export async function showOne<T>(
  client: ClientOptions,
  path: string,
  format: OutputFormat,
  out: Out,
  print: (value: T) => void,
): Promise<void> {
  const value = await request<T>(client, 'GET', path);
  if (format !== 'table') return out(structured(value, format));
  print(value);
}

/** GET the list at `path` and print its items: structured when `format` asks, else as `view` says. */
export async function showList<T>(
  client: ClientOptions,
  path: string,
  format: OutputFormat,
  out: Out,
  view: ListView<T>,
): Promise<void> {
  const { items } = await request<{ items: T[] }>(client, 'GET', path);
  if (format !== 'table') return out(structured(items, format));
  if (items.length === 0 && view.empty !== undefined) return out(view.empty);
  out(table(view.headers, items.map(view.row)));
}
