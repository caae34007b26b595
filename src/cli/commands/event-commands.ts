/**
 * `events list`: replay events (CloudEvents) from the control plane.
 */
import type { CloudEvent } from '../../ledger/index.js';
import type { ClientOptions } from '../client.js';
import { filterParams, showList } from '../command-helpers.js';
import { outputFormat } from '../output.js';

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
  await showList<CloudEvent>(client, `/v1/events?${filterParams(filters)}`, format, out, {
    empty: 'no events',
    headers: ['SEQ', 'TIME', 'TYPE', 'TENANT', 'ID'],
    row: (e) => [Number(e.sequence), e.time, e.type, e.subject ?? '(platform)', e.id],
  });
}
