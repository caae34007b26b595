/**
 * The webhook receiver guard on its own: every IPv6 form that carries an IPv4 address
 * (IPv4-compatible, NAT64, SIIT, 6to4, Teredo) is refused like a private address, public
 * IPv6 and IPv4-mapped public IPv4 still pass, and the operator's allowances still apply.
 */
import { describe, expect, it } from 'vitest';
import { ReceiverGuard } from './webhook-receiver-guard.js';

const strict = new ReceiverGuard({ allowPrivate: false, allowedCidrs: [] });

describe('ReceiverGuard', () => {
  it.each([
    ['::127.0.0.1', 'ipv4Compatible', '127.0.0.1'],
    ['::7f00:1', 'ipv4Compatible', '127.0.0.1'],
    ['::a00:1', 'ipv4Compatible', '10.0.0.1'],
    ['::a9fe:a9fe', 'ipv4Compatible', '169.254.169.254'],
    ['::8.8.8.8', 'ipv4Compatible', '8.8.8.8'],
    ['::808:808', 'ipv4Compatible', '8.8.8.8'],
    ['64:ff9b::7f00:1', 'rfc6052', '127.0.0.1'],
    ['64:ff9b::8.8.8.8', 'rfc6052', '8.8.8.8'],
    ['64:ff9b:1::a00:1', 'rfc6052', undefined],
    ['::ffff:0:7f00:1', 'rfc6145', '127.0.0.1'],
    ['2002:7f00:1::', '6to4', '127.0.0.1'],
    ['2002:a9fe:a9fe::1', '6to4', '169.254.169.254'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'teredo', '127.0.0.1'],
  ])('refuses %s (%s) and names the IPv4 address it carries', (address, range, carried) => {
    const why = strict.refusal(address);
    expect(why).toBeDefined();
    expect(why).toContain(`address-embedding (${range})`);
    if (carried) expect(why).toContain(`carrying ${carried}`);
  });

  it('still allows public IPv6 and public IPv4 written as IPv4-mapped IPv6, and refuses :: and ::1 as before', () => {
    for (const a of ['2606:4700:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '::ffff:808:808', '8.8.8.8'])
      expect(strict.refusal(a), a).toBeUndefined();
    expect(strict.refusal('::ffff:127.0.0.1')).toBe('::ffff:127.0.0.1 is a loopback address');
    expect(strict.refusal('::')).toContain('unspecified');
    expect(strict.refusal('::1')).toContain('loopback');
  });

  it('lets the operator allow them: every private address, or the listed range', () => {
    expect(new ReceiverGuard({ allowPrivate: true, allowedCidrs: [] }).refusal('::7f00:1')).toBeUndefined();
    const listed = new ReceiverGuard({ allowPrivate: false, allowedCidrs: ['::/96'] });
    expect(listed.refusal('::a00:1')).toBeUndefined();
    expect(listed.refusal('64:ff9b::a00:1')).toBeDefined();
    // A listed IPv4 range is not a way in through an IPv6 form that carries it.
    expect(new ReceiverGuard({ allowPrivate: false, allowedCidrs: ['10.0.0.0/8'] }).refusal('::a00:1')).toBeDefined();
  });

  it('refuses them when a name resolves to them, and as URL literals', async () => {
    const urls = [
      'http://[::127.0.0.1]/hook',
      'http://[::7f00:1]:8080/x',
      'https://[64:ff9b::a9fe:a9fe]/',
      'http://[2002:a00:1::]/',
      'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/',
    ];
    for (const url of urls) {
      await expect(strict.check(url), url).rejects.toMatchObject({ code: 'webhook_url_forbidden', status: 422 });
    }
  });
});
