/**
 * Trusted proxies: the peers whose X-Forwarded-For/-Proto/-Host the proxy keeps (and extends). From anybody
 * else those headers are replaced, so a client cannot forge its address for the upstreams.
 */
import { BlockList, isIP } from 'node:net';
import { ProxyConfigError } from '../errors.js';

export interface TrustedProxies {
  readonly entries: readonly string[];
  check(address: string): boolean;
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is reported, logged and matched as `10.0.0.1`. */
export function normalisePeerAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Parses `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`; null for an empty list. Throws ProxyConfigError. */
export function createTrustedProxies(entries: readonly string[]): TrustedProxies | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefixText, extra] = entry.trim().split('/');
    const family = isIP(address);
    const prefix = prefixText === undefined ? (family === 6 ? 128 : 32) : Number(prefixText);
    const valid =
      family !== 0 &&
      extra === undefined &&
      (prefixText === undefined || /^\d+$/.test(prefixText)) &&
      Number.isInteger(prefix) &&
      prefix >= 0 &&
      prefix <= (family === 6 ? 128 : 32);
    if (!valid) {
      throw new ProxyConfigError(
        `trustedProxies: ${JSON.stringify(entry)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1)`,
      );
    }
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return {
    entries: [...entries],
    check(address: string): boolean {
      const family = isIP(address);
      return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
}
