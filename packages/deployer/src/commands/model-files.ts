import { createLogger } from '../log.js';
import { type ModelFiles, planManifest } from '../models/pipeline.js';
import type { Manifest } from '../plan/types.js';
import type { Command, CommandIO } from './command.js';
import { parseExtraParams } from './model-options.js';
import { requireOption } from './parse-args.js';

/** The values of `MODEL_OPTIONS` after parsing, as far as the model files are concerned. */
interface ModelOptionValues {
  services?: string;
  infrastructure?: string;
  distribution?: string;
  ports?: string;
}

/**
 * The files `-s -i -d [-p]` name, for the commands that need all three models; the first of `-s -i -d` that is
 * missing is a usage error naming the command.
 */
export function requireModelFiles(command: Command, values: ModelOptionValues): ModelFiles {
  return {
    services: requireOption(command, values.services, '-s/--services'),
    infrastructure: requireOption(command, values.infrastructure, '-i/--infrastructure'),
    distribution: requireOption(command, values.distribution, '-d/--distribution'),
    ports: values.ports,
  };
}

/**
 * The manifest of the model files, as `manifest`, `visualize` and `deploy` build it: `--extra-params` passed to
 * the models, the planner's warnings logged to standard error.
 */
export async function buildManifestOf(
  io: CommandIO,
  files: ModelFiles,
  extraParams: string | undefined,
  modelCacheDir?: string,
): Promise<Manifest> {
  const { manifest, warnings } = await planManifest({
    files,
    cwd: io.cwd,
    extraParams: parseExtraParams(extraParams),
    modelCacheDir,
  });
  const log = createLogger(io.stderr);
  for (const warning of warnings) log.warn(warning);
  return manifest;
}
