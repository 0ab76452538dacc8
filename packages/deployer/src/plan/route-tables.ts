import type { RouteTableConfig } from '@nodix/proxy';
import { ModelError } from '../errors.js';
import type { TlsFiles } from '../models/tls.js';
import { naturalCompare } from './natural-sort.js';
import type { DependencyAddress, VirtualHostTlsConfig } from './types.js';

/** A service a proxy routes to: its virtual host name, where it runs, and how it is served over HTTPS. */
export interface RoutedService {
  name: string;
  dnsName: string;
  addresses: DependencyAddress[];
  /** The service's (checked) `tls`, `redirectHttps` and `hsts`, as the route table carries them. */
  https?: VirtualHostTlsConfig;
}

/**
 * The route table of one proxy, in the proxy's own format (packages/proxy/src/route-table/types.ts): every web app
 * it depends on, by dnsName, to the web app's instances on every target it is placed on. The proxy balances
 * between them.
 */
export function buildRouteTable(
  proxy: string,
  routed: RoutedService[],
  servicesFile: string,
  defaultTls?: TlsFiles,
): RouteTableConfig {
  const byHost = new Map<string, { service: string; entry: RouteTableConfig['hosts'][string] }>();
  for (const service of routed) {
    // Host names are case-insensitive and the proxy looks them up lowercased.
    const host = service.dnsName.toLowerCase();
    const other = byHost.get(host);
    if (other !== undefined) {
      throw new ModelError(
        servicesFile,
        `${proxy}.dependsOn`,
        `'${other.service}' and '${service.name}' both have dnsName '${host}'; the proxy cannot route one name to two services`,
      );
    }
    const upstreams = service.addresses.map((address) => {
      if (address.port === undefined) {
        throw new ModelError(
          servicesFile,
          `${service.name}.port`,
          `'${service.name}' has a dnsName but no port on target '${address.target}', so '${proxy}' cannot route to it`,
        );
      }
      return `http://${urlHost(address.hostname)}:${address.port}`;
    });
    byHost.set(host, { service: service.name, entry: { upstreams, ...service.https } });
  }
  const hosts: RouteTableConfig['hosts'] = {};
  for (const host of [...byHost.keys()].sort(naturalCompare)) {
    Object.defineProperty(hosts, host, {
      value: (byHost.get(host) as { entry: RouteTableConfig['hosts'][string] }).entry,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return defaultTls === undefined ? { version: 1, hosts } : { version: 1, hosts, defaultTls };
}

/** IPv6 literals go in brackets inside a URL. */
function urlHost(hostname: string): string {
  return hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
}
