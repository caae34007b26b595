/**
 * The SSRF guard for webhook receivers. A receiver must resolve only to public unicast
 * addresses: private, loopback, link-local, unique-local, carrier-grade NAT, multicast,
 * unspecified and reserved ranges are refused, unless the operator allows private
 * receivers or lists their ranges. IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is judged as the
 * IPv4 address it carries; the other IPv6 forms that carry an IPv4 address (IPv4-compatible
 * `::/96`, which `[::127.0.0.1]` is, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, SIIT
 * `::ffff:0:0/96`, 6to4 `2002::/16`, Teredo `2001::/32`) are refused whatever they carry,
 * since a translator or tunnel on the way decides where they lead.
 *
 * The URL is checked when a webhook is created or changed, and again at every delivery,
 * inside the connection's own DNS lookup: the address checked is the address connected
 * to, so a name that re-resolves to an internal address later (DNS rebinding) is refused.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promisify } from 'node:util';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { TenancyError } from '../../errors.js';

/** What the operator allows beyond public addresses. */
export interface ReceiverPolicy {
  allowPrivate: boolean;
  /** CIDR ranges allowed although not public (e.g. `127.0.0.1/32`, `10.20.0.0/16`). */
  allowedCidrs: string[];
  /** What a refusal tells the operator to set (default the webhook settings). */
  allowHint?: string;
}

const lookupAll = promisify(dnsLookup);

/** Checks receiver URLs and addresses against the policy. */
export class ReceiverGuard {
  readonly #ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;

  constructor(private readonly policy: ReceiverPolicy) {
    this.#ranges = policy.allowedCidrs.map((c) => ipaddr.parseCIDR(c));
  }

  /** Why `address` may not receive webhooks, or undefined when it may. */
  refusal(address: string): string | undefined {
    if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
    // process() turns IPv4-mapped IPv6 (::ffff:10.0.0.1) into the IPv4 address it carries.
    const ip = ipaddr.process(hexTail(address));
    const range = rangeOf(ip);
    if (range === 'unicast' || this.policy.allowPrivate) return undefined;
    if (this.#ranges.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits))) return undefined;
    const carried = embeddedIpv4(ip);
    return `${address} is ${EMBEDDING_RANGES.has(range) ? `an address-embedding (${range})` : `a ${range}`} address${carried ? ` carrying ${carried}` : ''}`;
  }

  /** Parse a receiver URL: http(s), no credentials in it. */
  parse(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalidUrl('must be an absolute http:// or https:// URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalidUrl('must be an http:// or https:// URL');
    if (url.username !== '' || url.password !== '')
      throw invalidUrl(
        'must not carry credentials (user:password@); receivers authenticate deliveries by their signature',
      );
    return url;
  }

  /**
   * The host as an IP literal, or undefined for a name. The WHATWG URL parser already
   * normalizes every IPv4 spelling (`0x7f.1`, `2130706433`) to dotted quads and brackets IPv6.
   */
  literal(url: URL): string | undefined {
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return ipaddr.isValid(host) ? host : undefined;
  }

  /** Check a URL now: its literal address, or every address its name resolves to. */
  async check(raw: string): Promise<URL> {
    const url = this.parse(raw);
    const literal = this.literal(url);
    let addresses: string[];
    if (literal !== undefined) addresses = [literal];
    else {
      try {
        addresses = (await lookupAll(url.hostname, { all: true, verbatim: true })).map((a) => a.address);
      } catch (cause) {
        throw new TenancyError('webhook_url_unresolvable', `the receiver host ${url.hostname} does not resolve`, {
          cause,
          errors: [{ path: '/url', message: 'the host does not resolve' }],
        });
      }
    }
    for (const a of addresses) {
      const why = this.refusal(a);
      if (why !== undefined) throw forbidden(url.hostname, why, this.policy.allowHint);
    }
    return url;
  }

  /** A `lookup` for sockets that refuses forbidden addresses at connect time (all of them if any is forbidden). */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true, verbatim: true }, (err, resolved: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      for (const a of resolved) {
        const why = this.refusal(a.address);
        if (why !== undefined) return callback(forbidden(hostname, why, this.policy.allowHint), '', 0);
      }
      if (options.all) return callback(null, resolved);
      const first = resolved[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

/** IPv4-compatible IPv6 (RFC 4291, deprecated): `::a.b.c.d`, which ipaddr.js counts as unicast. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');
/** The IPv6 ranges ipaddr.js names whose addresses carry an IPv4 address. */
const EMBEDDING_RANGES = new Set(['ipv4Compatible', 'rfc6052', 'rfc6145', '6to4', 'teredo']);

/**
 * IPv6 text with its last 32 bits as hex: ipaddr.js reads `::127.0.0.1` (IPv4-compatible, as
 * DNS lookups print `::7f00:1`) as if it were `::ffff:127.0.0.1` (IPv4-mapped).
 */
function hexTail(address: string): string {
  const m = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (!m) return address;
  const [a, b, c, d] = m.slice(2).map(Number) as [number, number, number, number];
  if ([a, b, c, d].some((o) => o > 255)) return address;
  return `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** ipaddr.js's range name, with IPv4-compatible addresses (other than `::` and `::1`) named too. */
function rangeOf(ip: ipaddr.IPv4 | ipaddr.IPv6): string {
  const range = ip.range();
  if (range === 'unicast' && ip.kind() === 'ipv6' && ip.match(IPV4_COMPATIBLE)) return 'ipv4Compatible';
  return range;
}

/** The IPv4 address an address-embedding IPv6 address carries, for the refusal's message. */
function embeddedIpv4(ip: ipaddr.IPv4 | ipaddr.IPv6): string | undefined {
  if (ip.kind() !== 'ipv6') return undefined;
  const p = (ip as ipaddr.IPv6).parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]).toString();
  switch (rangeOf(ip)) {
    case 'ipv4Compatible':
    case 'rfc6145':
      return v4(p[6]!, p[7]!);
    case 'rfc6052':
      // The well-known prefix 64:ff9b::/96 carries it last; the local-use /48 spreads it out.
      return p[1] === 0xff9b && p[2] === 0 ? v4(p[6]!, p[7]!) : undefined;
    case '6to4':
      return v4(p[1]!, p[2]!);
    case 'teredo':
      // The client's address, stored inverted in the last 32 bits.
      return v4(~p[6]! & 0xffff, ~p[7]! & 0xffff);
    default:
      return undefined;
  }
}

function invalidUrl(message: string): TenancyError {
  return new TenancyError('validation_failed', 'the webhook is invalid', { errors: [{ path: '/url', message }] });
}

function forbidden(
  host: string,
  why: string,
  hint = 'TENANCY_WEBHOOK_ALLOW_PRIVATE, TENANCY_WEBHOOK_ALLOWED_CIDRS',
): TenancyError & NodeJS.ErrnoException {
  return new TenancyError(
    'webhook_url_forbidden',
    `the host ${host} is not allowed: ${why}; it must be public unless the operator allows private addresses (${hint})`,
    { errors: [{ path: '/url', message: `resolves to a forbidden address (${why})` }] },
  );
}
