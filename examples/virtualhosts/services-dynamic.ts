import { type Services, type ServicesModelArgs, targetSpecific } from '@nodix/deployer';

// N web apps of weight 1 (N from --extra-params '{"count": 20}', default 4), for `nodix gendist` to spread over
// the targets' capacity, plus one proxy per target.
export default ({ invDistribution, ports, count = 4 }: ServicesModelArgs & { count?: unknown }): Services => {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
    throw new TypeError(`count must be a whole number >= 1, got ${JSON.stringify(count)}`);
  }
  const services: Services = {};
  for (let i = 1; i <= count; i++) {
    const name = `webapp${i}`;
    services[name] = {
      name,
      type: 'webapp',
      dnsName: `${name}.local`,
      portAssign: 'shared',
      port: ports[name],
      weight: 1,
    };
  }
  return {
    ...services,
    ...targetSpecific(invDistribution, (target, placed) => ({
      name: `proxy-${target.name}`,
      type: 'proxy',
      dependsOn: placed.filter((service) => service.type === 'webapp'),
      port: target.properties.proxyPort ?? 80,
    })),
  };
};
