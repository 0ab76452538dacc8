import { createRequire } from 'node:module';

/** The version of @nodix/deployer, from its package.json (one level above both src/ and dist/). */
export const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** What `--version` prints, as every nodix bin does: `<bin> <version>`. */
export const VERSION_LINE = `nodix ${VERSION}\n`;
