/**
 * Where the control plane connects for an st-byoc tenant. The tenant writes its database URL
 * itself, so the URL is read exactly as the `pg` driver reads it (with the driver's own
 * parser, `pg-connection-string`), every host it could name is judged, anything that cannot
 * be judged is refused (Unix sockets, several hosts, parameters that move the target or read
 * files on the control plane's disk), and the client is then built from explicit fields with
 * the checked address as its host: never from the string, where a `?host=` would win.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import ipaddr from 'ipaddr.js';
import { parse } from 'pg-connection-string';
import { TenancyError } from '../../errors.js';

/**
 * Query parameters a byoc URL may carry. `host` and `port` are read (and judged) when the URL
 * itself names no host or port; the rest only shape TLS and the session's name. Everything
 * else is refused: `hostaddr`, `options`, `replication`, `sslcert`/`sslkey`/`sslrootcert`
 * (files on the control plane's disk), and names the driver may learn later.
 */
const ALLOWED_PARAMETERS = ['host', 'port', 'sslmode', 'ssl', 'uselibpqcompat', 'application_name'] as const;
/** Fields the driver's parser sets itself, beside the query parameters. */
const PARSER_FIELDS = new Set(['user', 'password', 'host', 'port', 'database', 'ssl']);
/** Parameters that make the parser read a file; refused before it runs, however they are spelled. */
const FILE_PARAMETERS = /sslcert|sslkey|sslrootcert/i;
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** TLS settings for the tenant's database, as `pg` takes them. */
export type ByocTls = false | ConnectionOptions;

/** A tenant database URL read as the driver reads it, with one host that can be judged. */
export interface ByocTarget {
  /** A DNS name or an IP literal (no brackets); resolved and judged before connecting. */
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  ssl: ByocTls;
  applicationName: string | undefined;
  /** The URL rebuilt from these fields and the TLS parameters only: what the connection descriptor hands out. */
  url: string;
}

function invalid(label: string, reason: string, cause?: unknown): TenancyError {
  return new TenancyError('byoc_secret_invalid', `${label} ${reason}`, cause === undefined ? {} : { cause });
}

/** Decode percent escapes until nothing changes, so a spelled-out parameter name cannot hide. */
function fullyDecoded(text: string): string {
  let current = text;
  for (let i = 0; i < 5; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      next = current.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
    if (next === current) break;
    current = next;
  }
  return current;
}

/**
 * The URL the driver's parser builds before it reads parameters: the same two steps as
 * `pg-connection-string` (re-encode a string with spaces or stray `%`, then fall back to a
 * dummy host when the URL has none), so its query keys and host are the ones the driver sees.
 */
function driverUrl(value: string): { url: URL; dummyHost: boolean } {
  let text = value;
  if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(text)) text = encodeURI(text).replace(/%25(\d\d)/g, '%$1');
  try {
    return { url: new URL(text, 'postgres://base'), dummyHost: false };
  } catch {
    return { url: new URL(text.replace('@/', '@___DUMMY___/'), 'postgres://base'), dummyHost: true };
  }
}

/**
 * Read a tenant's database URL as the driver would, refusing what cannot be checked.
 * `label` starts every message (`tenant secret db-url`). Throws `byoc_secret_invalid` (409)
 * for a URL the control plane will not use and `byoc_database_forbidden` (409) for a Unix
 * socket, which is always a server on the control plane's own machine.
 */
export function parseByocUrl(value: string, label: string): ByocTarget {
  const shape = 'must hold a postgres://user:password@host:port/database URL';
  if (!/^postgres(ql)?:\/\/[^\s]+$/i.test(value)) throw invalid(label, shape);
  if (value.includes('?') && FILE_PARAMETERS.test(fullyDecoded(value.slice(value.indexOf('?'))))) {
    const why =
      "those are files on the control plane's disk, not the tenant's; use sslmode=verify-full with a publicly trusted certificate";
    throw invalid(label, `names sslcert, sslkey or sslrootcert: ${why}`);
  }
  let seen: { url: URL; dummyHost: boolean };
  try {
    seen = driverUrl(value);
  } catch (cause) {
    throw invalid(label, `is not a URL the database driver can read (${(cause as Error).message}); it ${shape}`, cause);
  }
  const keys = [...seen.url.searchParams.keys()];
  for (const key of keys) {
    if (!(ALLOWED_PARAMETERS as readonly string[]).includes(key)) {
      const allowed = ALLOWED_PARAMETERS.join(', ');
      throw invalid(
        label,
        `has the parameter ${JSON.stringify(key.slice(0, 40))}, which the control plane does not accept (it could change where or how it connects); allowed: ${allowed}`,
      );
    }
    if (keys.indexOf(key) !== keys.lastIndexOf(key)) throw invalid(label, `repeats the parameter ${key}; give it once`);
  }
  const urlHost = seen.dummyHost ? '' : seen.url.hostname;
  const hostParameter = seen.url.searchParams.get('host');
  if (urlHost !== '' && hostParameter !== null) {
    throw invalid(
      label,
      `names two hosts, ${urlHost} in the URL and ${hostParameter.slice(0, 100)} in its host parameter (which the driver would connect to); name one`,
    );
  }
  if (seen.url.port !== '' && seen.url.searchParams.has('port'))
    throw invalid(label, 'names two ports, one in the URL and one in its port parameter; name one');

  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(value);
  } catch (cause) {
    throw invalid(
      label,
      `is not a URL the database driver can read (${(cause as Error).message.slice(0, 200)}); it ${shape}`,
      cause,
    );
  }
  // The parser is the authority: if it found a key the steps above did not, refuse rather than guess.
  const unexpected = Object.keys(parsed).filter(
    (k) => !PARSER_FIELDS.has(k) && !(ALLOWED_PARAMETERS as readonly string[]).includes(k),
  );
  if (unexpected.length > 0) {
    throw invalid(
      label,
      `has parameters the control plane does not accept (${unexpected.join(', ')}); allowed: ${ALLOWED_PARAMETERS.join(', ')}`,
    );
  }

  const host = parsed.host ?? '';
  if (host === '') throw invalid(label, `names no host; it ${shape}`);
  if (host.includes(',')) {
    throw invalid(
      label,
      `names several hosts (${host.slice(0, 200)}); name exactly one: the control plane connects only to an address it has checked`,
    );
  }
  if (host.includes('/') || host.includes('\\')) {
    throw new TenancyError(
      'byoc_database_forbidden',
      `${label} names a Unix-domain socket (${host.slice(0, 200)}): that is always a server on the control plane's own machine, ` +
        'so st-byoc connects over TCP only, even with TENANCY_BYOC_ALLOW_PRIVATE=true',
    );
  }
  if (isIP(host) === 0 && !DNS_NAME.test(host)) {
    throw invalid(
      label,
      `names the host ${JSON.stringify(host.slice(0, 100))}, which is neither a DNS name nor an IP address`,
    );
  }

  const portText = parsed.port ?? '';
  if (portText.includes(','))
    throw invalid(label, `names several ports (${portText.slice(0, 100)}); name exactly one host and port`);
  const port = portText === '' ? 5432 : /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535))
    throw invalid(label, `names the port ${JSON.stringify(portText.slice(0, 20))}; a port is 1..65535`);

  const user = parsed.user ?? '';
  if (user === '') throw invalid(label, `names no user; it ${shape}`);
  const database = parsed.database ?? '';
  if (database === '') throw invalid(label, `names no database; it ${shape}`);

  const ssl = tlsOf(parsed.ssl, label);
  // Connecting to an IP address drops the name from TLS; keep it, so the certificate is checked against the name.
  if (ssl !== false && isIP(host) === 0) ssl.servername = host.replace(/\.$/, '');

  const query = new URLSearchParams();
  for (const key of ['sslmode', 'ssl', 'uselibpqcompat', 'application_name'] as const) {
    const v = seen.url.searchParams.get(key);
    if (v !== null) query.set(key, v);
  }
  const password = parsed.password ?? '';
  const auth = encodeURIComponent(user) + (password === '' ? '' : `:${encodeURIComponent(password)}`);
  const path = encodeURI(database).replace(/[?#]/g, encodeURIComponent);
  const url = `postgres://${auth}@${isIP(host) === 6 ? `[${host}]` : host}:${port}/${path}${query.toString() === '' ? '' : `?${query}`}`;
  const applicationName = seen.url.searchParams.get('application_name') ?? undefined;
  return { host, port, user, password, database, ssl, applicationName, url };
}

/** The parser's `ssl` as explicit TLS options (so nothing falls back to the control plane's PGSSLMODE). */
function tlsOf(ssl: unknown, label: string): ByocTls {
  if (ssl === undefined || ssl === false) return false;
  if (ssl === true) return { rejectUnauthorized: true };
  if (ssl === 'no-verify') return { rejectUnauthorized: false };
  if (typeof ssl === 'object' && ssl !== null) {
    const given = ssl as ConnectionOptions;
    return {
      rejectUnauthorized: given.rejectUnauthorized !== false,
      ...(given.checkServerIdentity ? { checkServerIdentity: given.checkServerIdentity } : {}),
    };
  }
  throw invalid(
    label,
    `has ssl=${JSON.stringify(String(ssl).slice(0, 20))}; use sslmode (disable, require, verify-full, no-verify) or ssl=true, 1, 0 or no-verify`,
  );
}

/**
 * The range an address belongs to, judging an IPv6 address that carries an IPv4 one
 * (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`)
 * as that IPv4 address: `[::ffff:127.0.0.1]` is loopback, whatever it looks like.
 */
export function addressRange(address: string): string {
  const ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    const p = v6.parts;
    const zeroTo = (n: number) => p.slice(0, n).every((x) => x === 0);
    const carried = () => ipaddr.fromByteArray(v6.toByteArray().slice(12)).range();
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().range();
    // `::` and `::1` are IPv6's own unspecified and loopback addresses; any other ::/96 address is IPv4-compatible.
    if (zeroTo(6) && !(p[6] === 0 && (p[7] ?? 0) <= 1)) return carried();
    if (p[0] === 0x64 && p[1] === 0xff9b && p.slice(2, 6).every((x) => x === 0)) return carried();
  }
  return ip.range();
}

/** Resolves a host name to every address it has (a test double stands in for DNS). */
export type Resolver = (host: string) => Promise<string[]>;

/** The system resolver, every answer in its own order. */
export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Resolve `host` and judge every address it has; returns the first, which is the one to
 * connect to (an IPv4-mapped one as its IPv4 address). A name with any non-public answer is
 * refused unless `allowPrivate`, so a second answer cannot lead somewhere the first would not.
 * `label` names the tenant in messages.
 */
export async function checkedAddress(
  host: string,
  options: { allowPrivate: boolean; resolve?: Resolver },
  label: string,
): Promise<string> {
  let addresses: string[];
  try {
    addresses = await (options.resolve ?? systemResolver)(host);
  } catch (cause) {
    throw new TenancyError(
      'byoc_database_unreachable',
      `cannot resolve ${host}, the host of ${label}: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (addresses.length === 0)
    throw new TenancyError('byoc_database_unreachable', `cannot resolve ${host}, the host of ${label}: no addresses`);
  for (const address of addresses) {
    let range: string;
    try {
      range = addressRange(address);
    } catch (cause) {
      throw new TenancyError(
        'byoc_database_forbidden',
        `${label} host ${host} resolves to ${address}, which cannot be judged as an address`,
        { cause },
      );
    }
    if (range !== 'unicast' && !options.allowPrivate) {
      const detail = `${label} host ${host} is a ${range} address (${address}); set TENANCY_BYOC_ALLOW_PRIVATE=true to allow non-public addresses`;
      throw new TenancyError('byoc_database_forbidden', detail);
    }
  }
  // An IPv4-mapped answer is judged as its IPv4 address; connect to that address itself.
  const first = ipaddr.parse(addresses[0]!);
  return first.kind() === 'ipv6' && (first as ipaddr.IPv6).isIPv4MappedAddress()
    ? (first as ipaddr.IPv6).toIPv4Address().toString()
    : addresses[0]!;
}
