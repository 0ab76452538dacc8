import type { ServiceInstance } from '../../plan/types.js';
import { checkOptionalHost, checkPort, checkString } from '../validate.js';
import { resolvePackageBin } from './bins.js';
import { type ActivationModule, listenHost } from './types.js';

/** `type: 'webapp'`: runs nodix-webapp, which answers every request with the service's `dnsName`. */
export const webappModule: ActivationModule = {
  type: 'webapp',
  check(instance) {
    return (
      checkString(instance.config.dnsName, `service.config.dnsName`) ??
      checkPort(instance.config.port, `service.config.port`) ??
      checkOptionalHost(instance)
    );
  },
  port(instance: ServiceInstance) {
    return instance.config.port as number;
  },
  launch(instance, context) {
    const host = listenHost(instance, context);
    const port = instance.config.port as number;
    return {
      command: process.execPath,
      args: [
        resolvePackageBin('@nodix/webapp', 'nodix-webapp'),
        '--name',
        instance.config.dnsName as string,
        '--port',
        String(port),
        '--host',
        host,
      ],
      env: { NODIX_SERVICE: instance.name },
      listens: [{ host, port }],
      // What nodix-webapp prints once it listens: heard at once, where probing the port would lag and cost CPU.
      readyLine: / listening on \S+:\d+$/m,
    };
  },
};
