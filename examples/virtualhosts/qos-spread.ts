import type { DistributionSpec, QosModelArgs } from '@nodix/deployer';

// For `nodix self-adapt`: every web app stays where it was while it fits there (keepPrevious for all of them, not
// only stateful ones), the others go to the target with the most capacity left (highest-bidder), so the web apps
// of a lost machine spread over the rest; every target gets its own proxy.
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
  return {
    ...filters.divide({
      strategy: 'highest-bidder',
      distribution: filters.keepPrevious({
        distribution: webapps,
        previousDistribution,
        services,
        when: () => true,
      }),
      services,
      infrastructure,
      serviceProperty: 'weight',
      targetProperty: 'capacity',
    }),
    ...filters.targetSpecific({ services, infrastructure }),
  };
};
