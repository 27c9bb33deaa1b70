import { isHostAllowed, isNonPublicAddress } from './address-policy';

describe('isNonPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254', // cloud metadata
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    'not-an-ip',
  ])('blocks %s', (ip) => expect(isNonPublicAddress(ip)).toBe(true));

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows %s',
    (ip) => expect(isNonPublicAddress(ip)).toBe(false),
  );

  // IPv6 forms that lead to an IPv4 address or a private network, each written several ways.
  it.each([
    // IPv4-compatible ::/96 (deprecated), as written and as URL parsing normalises it
    ['::127.0.0.1', 'IPv4-compatible'],
    ['::7f00:1', 'IPv4-compatible, hex'],
    ['::8.8.8.8', 'IPv4-compatible, even of a public address'],
    ['0:0:0:0:0:0:0:1', 'loopback, full form'],
    // IPv4-mapped ::ffff:0:0/96
    ['::ffff:7f00:1', 'mapped, hex'],
    ['0:0:0:0:0:ffff:7f00:1', 'mapped, full form'],
    ['0000:0000:0000:0000:0000:FFFF:7F00:0001', 'mapped, zero-padded upper case'],
    ['::ffff:a9fe:a9fe', 'mapped metadata address, hex'],
    ['::ffff:c0a8:101', 'mapped 192.168.1.1, hex'],
    ['::ffff:0:7f00:1', 'IPv4-translated ::ffff:0:0:0/96'],
    ['::ffff:0:10.0.0.1', 'IPv4-translated, dotted'],
    // NAT64
    ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1'],
    ['64:ff9b::10.1.2.3', 'NAT64 of 10.1.2.3, dotted'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of the metadata address'],
    ['64:ff9b:1::1', 'local-use NAT64 64:ff9b:1::/48'],
    ['64:ff9b:1:ffff::808:808', 'local-use NAT64, even of a public address'],
    // tunnels
    ['2002:7f00:1::1', '6to4 of 127.0.0.1'],
    ['2002:a9fe:a9fe::', '6to4 of the metadata address'],
    ['2002:808:808::1', '6to4, even of a public address'],
    ['2001::1', 'Teredo'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo, full form'],
    // other special-purpose
    ['2001:db8::1', 'documentation'],
    ['100::1', 'discard'],
    ['fec0::1', 'site-local'],
    ['fe80::1%eth0', 'link-local with a zone id'],
    ['192.88.99.1', '6to4 relay anycast'],
  ])('blocks %s (%s)', (ip) => expect(isNonPublicAddress(ip)).toBe(true));

  it.each([
    ['64:ff9b::808:808', 'NAT64 of a public address'],
    ['::ffff:808:808', 'mapped public address, hex'],
    ['2a00:1450:4001:82a::200e', 'a public IPv6 address'],
  ])('allows %s (%s)', (ip) => expect(isNonPublicAddress(ip)).toBe(false));

  // What a URL's host becomes after WHATWG parsing, the form the loader checks.
  it.each([
    'http://[::127.0.0.1]/a.png',
    'http://[::ffff:127.0.0.1]/a.png',
    'http://[0:0:0:0:0:ffff:7f00:1]/a.png',
    'http://[64:ff9b::169.254.169.254]/a.png',
    'http://[2002:7f00:1::]/a.png',
    'http://0x7f.1/a.png',
    'http://2130706433/a.png',
    'http://017700000001/a.png',
  ])('blocks the host of %s', (url) =>
    expect(isNonPublicAddress(new URL(url).hostname.replace(/^\[|\]$/g, ''))).toBe(true),
  );
});

describe('isHostAllowed', () => {
  const list = ['cdn.example.com', '*.img.example.org', '.static.example.net'];
  it('matches exact names case-insensitively, ignoring a trailing dot', () => {
    expect(isHostAllowed('cdn.example.com', list)).toBe(true);
    expect(isHostAllowed('CDN.Example.com.', list)).toBe(true);
    expect(isHostAllowed('evil-cdn.example.com', list)).toBe(false);
    expect(isHostAllowed('cdn.example.com.evil.io', list)).toBe(false);
  });
  it('matches wildcard suffixes on sub-domains only', () => {
    expect(isHostAllowed('a.img.example.org', list)).toBe(true);
    expect(isHostAllowed('img.example.org', list)).toBe(false);
    expect(isHostAllowed('badimg.example.org', list)).toBe(false);
    expect(isHostAllowed('x.static.example.net', list)).toBe(true);
  });
  it('allows nothing by default and anything with *', () => {
    expect(isHostAllowed('cdn.example.com', [])).toBe(false);
    expect(isHostAllowed('anything.io', ['*'])).toBe(true);
  });
});
