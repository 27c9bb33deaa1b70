import { BlockList, isIP } from 'node:net';

/**
 * Addresses an image fetch must never reach unless the deployment allows private addresses:
 * loopback, RFC 1918 / ULA private ranges, link-local (incl. cloud metadata 169.254.169.254),
 * CGNAT, "this network", multicast, reserved and documentation ranges, and the IPv6 forms that
 * lead to an IPv4 address (mapped, translated, NAT64, 6to4, Teredo).
 */
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4');
// IPv6 ranges refused outright. The forms that carry an IPv4 address with a known place for it
// (IPv4-mapped, IPv4-translated, NAT64 64:ff9b::/96) are judged by that address instead, below.
for (const [net, bits] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
  ['100::', 64], // discard
  ['2001::', 32], // Teredo: tunnels to an (obfuscated) IPv4 address
  ['2001:10::', 28], // ORCHID
  ['2001:20::', 28], // ORCHIDv2
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: tunnels to the IPv4 address in bits 16-47
  ['64:ff9b:1::', 48], // local-use NAT64: the IPv4 address may sit anywhere in it
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const)
  blocked.addSubnet(net, bits, 'ipv6');

/** The eight 16-bit words of a valid IPv6 address (any textual form, zone id dropped). */
function ipv6Words(ip: string): number[] {
  let text = ip.split('%')[0]!;
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(2).map(Number) as [number, number, number, number];
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const words = (part: string) => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const [head, tail] = text.split('::') as [string, string | undefined];
  if (tail === undefined) return words(head);
  const h = words(head);
  const t = words(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** The IPv4 address an IPv6 address stands for, where it is one of the forms that embed one. */
function embeddedIpv4(ip: string): string | null {
  const w = ipv6Words(ip);
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  const v4 = () => `${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
  if (zero(0, 5) && w[5] === 0xffff) return v4(); // ::ffff:0:0/96, IPv4-mapped
  if (zero(0, 4) && w[4] === 0xffff && w[5] === 0) return v4(); // ::ffff:0:0:0/96, IPv4-translated
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) return v4(); // 64:ff9b::/96, NAT64
  return null;
}

/** True when `ip` is in a private, loopback, link-local or otherwise non-public range. */
export function isNonPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(ip);
    if (v4 !== null) return isNonPublicAddress(v4);
    return blocked.check(ip.split('%')[0]!, 'ipv6');
  }
  return true; // not an address at all: refuse
}

/**
 * Whether a host name is on the allow-list. Entries are exact names (`cdn.example.com`), a
 * leading-dot or `*.` suffix (`*.example.com` matches sub-domains only), or `*` (any host; the
 * address checks still apply). Comparison is case-insensitive and ignores a trailing dot.
 */
export function isHostAllowed(host: string, allowList: readonly string[]): boolean {
  const h = host
    .toLowerCase()
    .replace(/\.$/, '')
    .replace(/^\[|\]$/g, '');
  return allowList.some((entry) => {
    const e = entry.toLowerCase().replace(/\.$/, '');
    if (e === '*') return true;
    if (e.startsWith('*.')) return h.endsWith(e.slice(1)) && h.length > e.length - 1;
    if (e.startsWith('.')) return h.endsWith(e) && h.length > e.length;
    return h === e;
  });
}
