/**
 * The SSRF guard for webhook receivers. A receiver must resolve only to public unicast
 * addresses: private, loopback, link-local, unique-local, carrier-grade NAT, multicast,
 * unspecified, reserved and address-embedding IPv6 ranges are refused (IPv4-mapped IPv6
 * is judged as the IPv4 address it carries), unless the operator allows private
 * receivers or lists their ranges.
 *
 * The URL is checked when a webhook is created or changed, and again at every delivery,
 * inside the connection's own DNS lookup: the address checked is the address connected
 * to, so a name that re-resolves to an internal address later (DNS rebinding) is refused.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promisify } from 'node:util';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { TenancyError } from '../errors.js';

/** What the operator allows beyond public addresses. */
export interface ReceiverPolicy {
  allowPrivate: boolean;
  /** CIDR ranges allowed although not public (e.g. `127.0.0.1/32`, `10.20.0.0/16`). */
  allowedCidrs: string[];
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
    const ip = ipaddr.process(address);
    const range = ip.range();
    if (range === 'unicast' || this.policy.allowPrivate) return undefined;
    if (this.#ranges.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits))) return undefined;
    return `${address} is a ${range} address`;
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
    if (url.username !== '' || url.password !== '') throw invalidUrl('must not carry credentials (user:password@); receivers authenticate deliveries by their signature');
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
        throw new TenancyError('webhook_url_unresolvable', 422, `the receiver host ${url.hostname} does not resolve`, { cause, errors: [{ path: '/url', message: 'the host does not resolve' }] });
      }
    }
    for (const a of addresses) {
      const why = this.refusal(a);
      if (why !== undefined) throw forbidden(url.hostname, why);
    }
    return url;
  }

  /** A `lookup` for sockets that refuses forbidden addresses at connect time (all of them if any is forbidden). */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true, verbatim: true }, (err, resolved: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      for (const a of resolved) {
        const why = this.refusal(a.address);
        if (why !== undefined) return callback(forbidden(hostname, why), '', 0);
      }
      if (options.all) return callback(null, resolved);
      const first = resolved[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

function invalidUrl(message: string): TenancyError {
  return new TenancyError('validation_failed', 400, 'the webhook is invalid', { errors: [{ path: '/url', message }] });
}

function forbidden(host: string, why: string): TenancyError & NodeJS.ErrnoException {
  return new TenancyError(
    'webhook_url_forbidden',
    422,
    `the receiver ${host} is not allowed: ${why}; receivers must be public unless the operator allows private ones (TENANCY_WEBHOOK_ALLOW_PRIVATE, TENANCY_WEBHOOK_ALLOWED_CIDRS)`,
    { errors: [{ path: '/url', message: `resolves to a forbidden address (${why})` }] },
  );
}
