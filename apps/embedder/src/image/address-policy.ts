import { BlockList, isIP } from 'node:net';

/**
 * Addresses an image fetch must never reach unless the deployment allows private addresses:
 * loopback, RFC 1918 / ULA private ranges, link-local (incl. cloud metadata 169.254.169.254),
 * CGNAT, "this network", multicast, reserved and documentation ranges.
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
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
  ['64:ff9b::', 96],
  ['100::', 64],
] as const)
  blocked.addSubnet(net, bits, 'ipv6');

/** IPv4 embedded in an IPv6 address (::ffff:a.b.c.d, ::a.b.c.d, 6to4 and NAT64 forms are handled by ranges). */
function embeddedIpv4(ip: string): string | null {
  const m = /^(?:0*:)*?:?(?:0*:)*ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip) ?? /^::(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (m) return m[1]!;
  // ::ffff:7f00:1 (hex form of a mapped address)
  const h = /^(?:0*:)*?:?(?:0*:)*ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (h) {
    const hi = parseInt(h[1]!, 16);
    const lo = parseInt(h[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return null;
}

/** True when `ip` is in a private, loopback, link-local or otherwise non-public range. */
export function isNonPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(ip);
    if (v4 !== null) return isNonPublicAddress(v4);
    return blocked.check(ip, 'ipv6');
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
