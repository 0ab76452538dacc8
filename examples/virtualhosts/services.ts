import { type Services, type ServicesModelArgs, targetSpecific } from '@nodix/deployer';

// Four web apps, each answering with its virtual host name, and one proxy per target that routes to exactly the
// web apps placed on that target. Ports come from `nodix port-assign` (ports.json, passed with -p).
export default ({ invDistribution, ports }: ServicesModelArgs): Services => ({
  webapp1: {
    name: 'webapp1',
    type: 'webapp',
    dnsName: 'webapp1.local',
    portAssign: 'shared',
    port: ports.webapp1,
  },
  webapp2: {
    name: 'webapp2',
    type: 'webapp',
    dnsName: 'webapp2.local',
    portAssign: 'shared',
    port: ports.webapp2,
  },
  webapp3: {
    name: 'webapp3',
    type: 'webapp',
    dnsName: 'webapp3.local',
    portAssign: 'shared',
    port: ports.webapp3,
  },
  webapp4: {
    name: 'webapp4',
    type: 'webapp',
    dnsName: 'webapp4.local',
    portAssign: 'shared',
    port: ports.webapp4,
  },

  ...targetSpecific(invDistribution, (target, placed) => ({
    name: `proxy-${target.name}`,
    type: 'proxy',
    dependsOn: placed.filter((service) => service.type === 'webapp'),
    port: target.properties.proxyPort ?? 80,
  })),
});
