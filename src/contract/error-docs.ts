/**
 * The error table of docs/errors.md, rendered from the catalogue, so the docs list exactly the
 * codes the code can answer with (`npm run docs:errors` writes it; a test checks it is current).
 */
import { ERROR_CATALOGUE, type ErrorEntry } from './error-catalogue.js';

/** docs/errors.md as it should read for this catalogue. */
export function renderErrorDocs(): string {
  const rows = Object.entries(ERROR_CATALOGUE as Record<string, ErrorEntry>).map(([code, entry]) => {
    const statuses = [entry.status, ...(entry.also ?? [])].join(', ');
    return `| \`${code}\` | ${statuses} | ${entry.title} |`;
  });
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/contract/error-catalogue.ts by `npm run docs:errors`; do not edit by hand. -->',
    '',
    'Every refusal, from the control plane and from an app guarded by the SDK, is an RFC 9457',
    '`application/problem+json` document whose `code` is one of these, whose `type` is',
    '`urn:tenancy:problem:<code>` and whose `title` is the one below (see [api.md](api.md#errors)).',
    'The first status is the usual one; a code with two answers with the second where the',
    'situation calls for it (a monthly cost cap is 403, a count over its quota 409, a request',
    "rate over its quota 429; a tenant's credentials refused in a phase are 403, a verb refused",
    'in a phase 409). An error an SDK reads off the wire keeps the code and status it was sent with.',
    '',
    '| code | status | title |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
