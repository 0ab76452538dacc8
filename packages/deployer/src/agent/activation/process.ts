import type { DependencyRef, ServiceInstance } from '../../plan/types.js';
import { checkPort, checkString, isRecord, type Problem } from '../validate.js';
import { type ActivationModule, listenHost } from './types.js';

/** How long a `process` without a port must stay alive to count as started. */
export const DEFAULT_SETTLE_MS = 500;

function checkCommand(value: unknown): Problem {
  if (typeof value === 'string') return checkString(value, 'service.config.command');
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((part) => typeof part === 'string' && part !== '')
  ) {
    return undefined;
  }
  return 'service.config.command: must be a string (run by /bin/sh) or a non-empty array of strings (argv)';
}

function checkEnv(value: unknown): Problem {
  if (value === undefined) return undefined;
  if (!isRecord(value)) return 'service.config.env: must be an object of strings';
  for (const [key, inner] of Object.entries(value)) {
    if (typeof inner !== 'string') return `service.config.env.${key}: must be a string`;
  }
  return undefined;
}

/** `NODIX_DEP_WEBAPP1=test1:3001,test2:3001`: where each dependency is, the way Disnix passes them in. */
function dependencyEnv(refs: DependencyRef[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ref of refs) {
    const key = `NODIX_DEP_${ref.service.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
    env[key] = ref.addresses
      .map((address) =>
        address.port === undefined ? address.hostname : `${address.hostname}:${address.port}`,
      )
      .join(',');
  }
  return env;
}

/**
 * `type: 'process'`: any command. `config.command` is an argv array or a shell line; `config.env` is added to the
 * environment together with `PORT` (when `config.port` is set) and one `NODIX_DEP_*` per dependency. With a port,
 * ready means the port accepts connections; without one, the process must stay up `config.settleMs` (500 ms).
 */
export const processModule: ActivationModule = {
  type: 'process',
  check(instance) {
    const { command, env, port, settleMs } = instance.config;
    return (
      checkCommand(command) ??
      checkEnv(env) ??
      (port === undefined ? undefined : checkPort(port, 'service.config.port')) ??
      (settleMs === undefined || (typeof settleMs === 'number' && settleMs >= 0 && settleMs <= 60_000)
        ? undefined
        : 'service.config.settleMs: must be a number of milliseconds from 0 to 60000')
    );
  },
  port(instance: ServiceInstance) {
    return typeof instance.config.port === 'number' ? instance.config.port : undefined;
  },
  launch(instance, context) {
    const { command, env, port, settleMs } = instance.config;
    const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : (command as string[]);
    const host = listenHost(instance, context);
    return {
      command: argv[0] as string,
      args: argv.slice(1),
      env: {
        ...dependencyEnv([...instance.dependsOn, ...instance.connectsTo]),
        ...(typeof port === 'number' ? { PORT: String(port), HOST: host } : {}),
        NODIX_SERVICE: instance.name,
        ...((env as Record<string, string> | undefined) ?? {}),
      },
      listens: typeof port === 'number' ? [{ host, port }] : [],
      settleMs: typeof settleMs === 'number' ? settleMs : DEFAULT_SETTLE_MS,
    };
  },
};
