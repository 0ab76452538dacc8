import { processModule } from './process.js';
import { proxyModule } from './proxy.js';
import type { ActivationModule } from './types.js';
import { webappModule } from './webapp.js';

export type { ActivationContext, ActivationModule, LaunchSpec } from './types.js';

/** The activation modules an agent knows, by service `type`. */
export const activationModules: ReadonlyMap<string, ActivationModule> = new Map(
  [webappModule, proxyModule, processModule].map((module) => [module.type, module]),
);
