/**
 * `events list`: replay events (CloudEvents) from the control plane.
 */
import type { CloudEvent } from '../../ledger/index.js';
import { request, type ClientOptions } from '../client.js';
import { outputFormat, structured, table } from '../output.js';

type Out = (line: string) => void;

/** `events list`. */
export async function listEvents(
  client: ClientOptions,
  filters: {
    tenant?: string | undefined;
    type?: string | undefined;
    after?: string | undefined;
    limit?: string | undefined;
  },
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== undefined) params.set(k, v);
  const { items } = await request<{ items: CloudEvent[]; next: number | null }>(client, 'GET', `/v1/events?${params}`);
  if (format !== 'table') return out(structured(items, format));
  if (items.length === 0) return out('no events');
  out(
    table(
      ['SEQ', 'TIME', 'TYPE', 'TENANT', 'ID'],
      items.map((e) => [Number(e.sequence), e.time, e.type, e.subject ?? '(platform)', e.id]),
    ),
  );
}
