import type { DistributionSpec, QosModelArgs } from '@nodix/deployer';

// The web apps go, in natural order, to the first target with capacity left for their weight (greedy), except
// stateful ones, which stay where they were; every target gets its own proxy.
export default ({
  services,
  infrastructure,
  initialDistribution,
  previousDistribution,
  filters,
}: QosModelArgs): DistributionSpec => {
  const webapps = filters.select({
    distribution: initialDistribution,
    services,
    where: (s) => s.type === 'webapp',
  });
  const candidates = filters.keepPrevious({ distribution: webapps, previousDistribution, services });
  return {
    ...filters.divide({
      strategy: 'greedy',
      distribution: candidates,
      services,
      infrastructure,
      serviceProperty: 'weight',
      targetProperty: 'capacity',
    }),
    ...filters.targetSpecific({ services, infrastructure }),
  };
};
