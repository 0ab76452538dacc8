import {
  type DistributionModelArgs,
  type DistributionSpec,
  targetSpecificDistribution,
} from '@nodix/deployer';

// webapp1 and webapp2 on test1, webapp3 and webapp4 on test2, and every target's own proxy on it.
export default ({ infrastructure }: DistributionModelArgs): DistributionSpec => ({
  webapp1: [infrastructure.test1],
  webapp2: [infrastructure.test1],
  webapp3: [infrastructure.test2],
  webapp4: [infrastructure.test2],
  ...targetSpecificDistribution(infrastructure, (target) => `proxy-${target.name}`),
});
