/**
 * Reading st-byoc database URLs: whatever the driver would connect to is what gets judged,
 * and what cannot be judged (sockets, several hosts, parameters that move the target or read
 * files) is refused with a message that names the reason.
 */
import fc from 'fast-check';
import { parse } from 'pg-connection-string';
import { describe, expect, it } from 'vitest';
import { addressRange, checkedAddress, parseByocUrl } from './byoc-target.js';

const LABEL = 'tenant secret db-url';

function refusal(value: string): { code: string; status: number; detail: string } {
  try {
    parseByocUrl(value, LABEL);
  } catch (error) {
    const e = error as { code: string; status: number; detail: string };
    return { code: e.code, status: e.status, detail: e.detail };
  }
  throw new Error(`accepted ${value}`);
}

describe('parseByocUrl', () => {
  it('reads a plain URL into explicit fields and rebuilds the same URL', () => {
    const t = parseByocUrl(
      'postgres://app:s%40cret@db.example.com:6543/acme?sslmode=verify-full&application_name=acme',
      LABEL,
    );
    expect(t).toMatchObject({
      host: 'db.example.com',
      port: 6543,
      user: 'app',
      password: 's@cret',
      database: 'acme',
      applicationName: 'acme',
    });
    expect(t.ssl).toEqual({ rejectUnauthorized: true, servername: 'db.example.com' });
    expect(t.url).toBe('postgres://app:s%40cret@db.example.com:6543/acme?sslmode=verify-full&application_name=acme');
    expect(parseByocUrl('postgresql://app@10.0.0.5/acme', LABEL)).toMatchObject({
      host: '10.0.0.5',
      port: 5432,
      password: '',
      ssl: false,
      url: 'postgres://app@10.0.0.5:5432/acme',
    });
    expect(parseByocUrl('postgres://app:pw@[2606:4700::1111]:5432/acme', LABEL)).toMatchObject({
      host: '2606:4700::1111',
      url: 'postgres://app:pw@[2606:4700::1111]:5432/acme',
    });
  });

  it('takes the host and port from parameters when the URL has none, as the driver does', () => {
    expect(parseByocUrl('postgres://app:pw@/acme?host=db.example.com&port=6000', LABEL)).toMatchObject({
      host: 'db.example.com',
      port: 6000,
      url: 'postgres://app:pw@db.example.com:6000/acme',
    });
  });

  it('refuses a host parameter beside the URL host: the driver would connect to the parameter', () => {
    const r = refusal('postgres://role:pw@93.184.216.34:5432/db?host=127.0.0.1');
    expect(r).toMatchObject({ code: 'byoc_secret_invalid', status: 409 });
    expect(r.detail).toContain('names two hosts, 93.184.216.34 in the URL and 127.0.0.1 in its host parameter');
    // Spelled with an escape, the driver still reads `host`.
    expect(refusal('postgres://role:pw@93.184.216.34/db?ho%73t=127.0.0.1').detail).toContain('names two hosts');
    expect(refusal('postgres://role:pw@93.184.216.34:5432/db?port=5433').detail).toContain('names two ports');
  });

  it('refuses parameters that change where or how it connects, and ones that read files', () => {
    for (const param of [
      'hostaddr=127.0.0.1',
      'options=-c%20role%3Dpostgres',
      'replication=database',
      'user=postgres',
      'client_encoding=SQL_ASCII',
    ]) {
      const r = refusal(`postgres://role:pw@db.example.com/db?${param}`);
      expect(r.code).toBe('byoc_secret_invalid');
      expect(r.detail).toContain(`the parameter "${param.split('=')[0]}"`);
    }
    for (const param of [
      'sslrootcert=/etc/passwd',
      'sslkey=/var/lib/tenancy/root.key',
      'ssl%63ert=/x',
      'sslrootcert%3D/x',
    ]) {
      expect(refusal(`postgres://role:pw@db.example.com/db?sslmode=require&${param}`).detail).toContain(
        'sslcert, sslkey or sslrootcert',
      );
    }
    expect(refusal('postgres://role:pw@db.example.com/db?sslmode=require&sslmode=disable').detail).toContain(
      'repeats the parameter sslmode',
    );
    expect(refusal('postgres://role:pw@db.example.com/db?ssl=false').detail).toContain('ssl="false"');
  });

  it('refuses Unix sockets however they are written', () => {
    for (const value of [
      'postgres://role@/db?host=/var/run/postgresql',
      'postgres://role@%2Fvar%2Frun%2Fpostgresql/db',
      'postgres://role@%2ftmp/db',
    ]) {
      const r = refusal(value);
      expect(r).toMatchObject({ code: 'byoc_database_forbidden', status: 409 });
      expect(r.detail).toContain('Unix-domain socket');
    }
  });

  it('refuses several hosts, and URLs that name no host, user or database', () => {
    expect(refusal('postgres://role:pw@93.184.216.34,127.0.0.1/db').detail).toContain(
      'names several hosts (93.184.216.34,127.0.0.1)',
    );
    expect(refusal('postgres://role:pw@/db?host=a.example.com,127.0.0.1').detail).toContain('names several hosts');
    expect(refusal('postgres://role:pw@a.example.com:5432,127.0.0.1:5432/db').code).toBe('byoc_secret_invalid');
    expect(refusal('postgres://role:pw@/db').detail).toContain('names no host');
    expect(refusal('postgres://db.example.com/db').detail).toContain('names no user');
    expect(refusal('postgres://role@db.example.com/').detail).toContain('names no database');
    expect(refusal('postgres://role@/db?host=db.example.com&port=99999').detail).toContain('a port is 1..65535');
    expect(refusal('mysql://role@db.example.com/db').detail).toContain('must hold a postgres://');
  });

  it('translates the TLS settings the driver would use into explicit options', () => {
    const ssl = (q: string) => parseByocUrl(`postgres://r:p@db.example.com/d?${q}`, LABEL).ssl;
    expect(ssl('sslmode=disable')).toBe(false);
    expect(ssl('sslmode=require')).toEqual({ rejectUnauthorized: true, servername: 'db.example.com' });
    expect(ssl('sslmode=no-verify')).toEqual({ rejectUnauthorized: false, servername: 'db.example.com' });
    expect(ssl('uselibpqcompat=true&sslmode=require')).toEqual({
      rejectUnauthorized: false,
      servername: 'db.example.com',
    });
    expect(ssl('ssl=true')).toEqual({ rejectUnauthorized: true, servername: 'db.example.com' });
    expect(parseByocUrl('postgres://r:p@10.0.0.5/d?sslmode=require', LABEL).ssl).toEqual({ rejectUnauthorized: true });
  });

  it('whenever it accepts a URL, it judges the host and port the driver would connect to, and its URL reads back the same', () => {
    const part = fc.constantFrom(
      'host=127.0.0.1',
      'host=db.example.com',
      'port=6000',
      'sslmode=require',
      'application_name=x',
      'ho%73t=10.0.0.1',
      'hostaddr=127.0.0.1',
      'ssl=1',
      '',
      '&',
    );
    const authority = fc.constantFrom(
      'role:pw@93.184.216.34:5432',
      'role:pw@',
      'role@db.example.com',
      'role:p%20w@[::ffff:127.0.0.1]',
      'role:pw@db.example.com:',
      'role@%31%32%37.0.0.1',
    );
    fc.assert(
      fc.property(authority, fc.array(part, { maxLength: 4 }), (auth, parts) => {
        const value = `postgres://${auth}/db${parts.length > 0 ? `?${parts.join('&')}` : ''}`;
        let target;
        try {
          target = parseByocUrl(value, LABEL);
        } catch {
          return;
        }
        const driver = parse(value);
        expect(target.host).toBe(driver.host);
        expect(target.port).toBe(driver.port ? Number(driver.port) : 5432);
        const again = parse(target.url);
        expect({
          host: again.host,
          port: Number(again.port),
          user: again.user,
          password: again.password,
          database: again.database,
        }).toEqual({
          host: target.host,
          port: target.port,
          user: target.user,
          password: target.password,
          database: target.database,
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('addressRange', () => {
  it('judges IPv6 forms that carry an IPv4 address as that address', () => {
    expect(addressRange('::ffff:127.0.0.1')).toBe('loopback');
    expect(addressRange('::ffff:7f00:1')).toBe('loopback');
    expect(addressRange('::7f00:1')).toBe('loopback');
    expect(addressRange('::10.0.0.1')).toBe('private');
    expect(addressRange('64:ff9b::a00:1')).toBe('private');
    expect(addressRange('64:ff9b::5db8:d822')).toBe('unicast');
    expect(addressRange('::1')).toBe('loopback');
    expect(addressRange('::')).toBe('unspecified');
    expect(addressRange('93.184.216.34')).toBe('unicast');
    expect(addressRange('2606:4700::1111')).toBe('unicast');
    expect(addressRange('fe80::1%eth0')).toBe('linkLocal');
  });
});

describe('checkedAddress', () => {
  const resolving = (addresses: string[]) => async () => addresses;

  it('judges every address a name has and returns the first', async () => {
    await expect(
      checkedAddress(
        'db.example.com',
        { allowPrivate: false, resolve: resolving(['93.184.216.34', '2606:4700::1111']) },
        'tenant a',
      ),
    ).resolves.toBe('93.184.216.34');
    await expect(
      checkedAddress(
        'db.example.com',
        { allowPrivate: false, resolve: resolving(['93.184.216.34', '127.0.0.1']) },
        'tenant a',
      ),
    ).rejects.toMatchObject({
      code: 'byoc_database_forbidden',
      status: 409,
      detail: expect.stringContaining('is a loopback address (127.0.0.1)'),
    });
    await expect(
      checkedAddress(
        'db.example.com',
        { allowPrivate: true, resolve: resolving(['10.0.0.5', '127.0.0.1']) },
        'tenant a',
      ),
    ).resolves.toBe('10.0.0.5');
    await expect(
      checkedAddress('db.example.com', { allowPrivate: true, resolve: resolving(['::ffff:127.0.0.1']) }, 'tenant a'),
    ).resolves.toBe('127.0.0.1');
    await expect(
      checkedAddress('db.example.com', { allowPrivate: false, resolve: resolving([]) }, 'tenant a'),
    ).rejects.toMatchObject({ code: 'byoc_database_unreachable' });
  });

  it('resolves numeric spellings with the system resolver and judges what they mean', async () => {
    for (const host of ['0x7f000001', '2130706433', '127.1', '::ffff:7f00:1', '::7f00:1']) {
      await expect(checkedAddress(host, { allowPrivate: false }, 'tenant a')).rejects.toMatchObject({
        code: 'byoc_database_forbidden',
      });
    }
  });
});
