/**
 * The planning benchmark's measuring process (started by `planning-scenario.ts`, pinned to the servers' core).
 * Plans the virtualhosts example at scale through the deployer library, step by step as the CLI runs them:
 * gendist (examples/virtualhosts/qos.ts), port-assign, manifest, each including the model evaluation its command
 * does, minus file reading. Prints one `RESULT {json}` line.
 */
import { performance } from 'node:perf_hooks';
import {
  assignPorts,
  buildManifest,
  distributionToJson,
  evaluateModels,
  generateDistribution,
  type InfrastructureSpec,
  type ModelFiles,
  type ModelSources,
  portRequests,
} from '@nodix/deployer';
import qos from '../../examples/virtualhosts/qos.js';
import services from '../../examples/virtualhosts/services-dynamic.js';

export interface PlanningWorkerOptions {
  serviceCounts: number[];
  targets: number;
  rounds: number;
}

export type StepTimes = Record<'gendist' | 'port-assign' | 'manifest', number>;

export interface PlanningWorkerResult {
  sizes: { services: number; targets: number; instances: number; rounds: StepTimes[] }[];
}

const options = JSON.parse(process.argv[2] ?? '{}') as PlanningWorkerOptions;

/**
 * `targets` machines with room for every web app: greedy fills them in order, `ceil(services / targets)` each.
 * The agent and proxy ports are per target, as in infrastructure-local.ts, so nothing collides.
 */
function infrastructure(serviceCount: number, targets: number): InfrastructureSpec {
  const spec: InfrastructureSpec = {};
  for (let i = 1; i <= targets; i++) {
    spec[`target${i}`] = {
      properties: { hostname: `target${i}`, capacity: Math.ceil(serviceCount / targets), proxyPort: 8080 },
    };
  }
  return spec;
}

// The example's web apps ask for a port from the shared pool; 10 000 of them need a pool that large (the CLI's
// --shared-range), since the default 3000-4000 holds 1 001.
const sharedRange = { min: 20_000, max: 40_000 };

/** A full collection before each timed step, so one step's garbage is not collected inside the next one's time. */
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function timed<T>(step: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  collect();
  const start = performance.now();
  const value = await step();
  return { value, ms: performance.now() - start };
}

async function planOnce(
  serviceCount: number,
  targets: number,
): Promise<{ times: StepTimes; instances: number }> {
  const extraParams = { count: serviceCount };
  const base: ModelSources = { infrastructure: infrastructure(serviceCount, targets), services };
  const files: ModelFiles = { infrastructure: 'infrastructure (generated)', services: 'services-dynamic.ts' };

  const gendist = await timed(async () => {
    const models = await evaluateModels(
      { ...base, qos },
      { files: { ...files, qos: 'qos.ts' }, extraParams },
    );
    return generateDistribution({
      qos: models.qos,
      qosFile: 'qos.ts',
      services: models.services!,
      infrastructure: models.infrastructure,
      infrastructureFile: files.infrastructure,
      extraParams,
    });
  });
  const distribution = distributionToJson(gendist.value);

  const portAssign = await timed(async () => {
    const models = await evaluateModels(
      { ...base, distribution },
      { files: { ...files, distribution: 'distribution.json' }, extraParams },
    );
    const { requests, fixed } = portRequests(models.services!, models.distribution!);
    return assignPorts({ requests, fixed, sharedRange });
  });

  const manifest = await timed(async () => {
    const models = await evaluateModels(
      { ...base, distribution, ports: portAssign.value },
      { files: { ...files, distribution: 'distribution.json', ports: 'ports.json' }, extraParams },
    );
    return buildManifest({
      services: models.services!,
      infrastructure: models.infrastructure,
      distribution: models.distribution!,
      ports: models.ports?.ports ?? {},
    });
  });

  const instances = Object.values(manifest.value.manifest.targets).reduce(
    (sum, target) => sum + Object.keys(target.services).length,
    0,
  );
  return { times: { gendist: gendist.ms, 'port-assign': portAssign.ms, manifest: manifest.ms }, instances };
}

console.log('planning worker ready');
// Unmeasured: the first plan pays for loading and compiling the code paths.
await planOnce(options.serviceCounts[0] ?? 100, options.targets);
const result: PlanningWorkerResult = {
  sizes: options.serviceCounts.map((services) => ({
    services,
    targets: options.targets,
    instances: 0,
    rounds: [],
  })),
};
// Sizes interleaved within each round, like the HTTP setups, so drift of the machine hits every size alike.
for (let round = 0; round < options.rounds; round++) {
  for (const size of result.sizes) {
    const { times, instances } = await planOnce(size.services, size.targets);
    size.rounds.push(times);
    size.instances = instances;
    process.stderr.write(
      `[bench] planning round ${round + 1}/${options.rounds} ${size.services} services: ${Object.entries(
        times,
      )
        .map(([step, ms]) => `${step} ${ms.toFixed(1)} ms`)
        .join(', ')}\n`,
    );
  }
}
console.log(`RESULT ${JSON.stringify(result)}`);
