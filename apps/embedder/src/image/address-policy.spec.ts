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
