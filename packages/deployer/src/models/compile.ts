import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * TypeScript models, compiled by esbuild and imported as plain ES modules.
 *
 * Why not a loader hook (tsx's `tsImport`, as before): on Node 20 `module.register` starts a hooks thread (~0.2 s)
 * and sends every later resolve and load to it, and tsx's namespaced import loads the model's whole import graph a
 * second time through it, @nodix/deployer included. That was most of the 0.6-1.3 s `nodix deploy` spent building
 * manifests. Here only the model's own TypeScript files are compiled (bundled into one module); every other import
 * (packages, JavaScript, JSON, built-ins) stays an import, rewritten to the absolute URL Node would resolve it to, so
 * `@nodix/deployer` is the instance the CLI already loaded. `import.meta.url`, `.filename` and `.dirname` keep
 * meaning the original file, and stack traces point into it (inline source map, source maps enabled).
 *
 * With a cache directory (the coordinator's state dir) the compiled module is kept, named by the hash of its code,
 * beside a record of every TypeScript file that went into it and that file's content hash: the next load re-hashes
 * those files and imports the kept module when none changed, without starting esbuild.
 */

/** Bump when the compiled output would change for the same inputs, so old cache entries are not used. */
const FORMAT = 1;
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts', '.tsx']);

const require = createRequire(import.meta.url);

/** `@nodix/deployer` and its subpaths: resolved from this package (a self-reference through its exports). */
const OWN_PACKAGE = /^@nodix\/deployer(\/|$)/;

interface CacheRecord {
  format: number;
  esbuild: string;
  entry: string;
  /** Absolute path → sha256 of its content, for every TypeScript file bundled into `output`. */
  inputs: Record<string, string>;
  /** File name of the compiled module in the cache directory. */
  output: string;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let esbuildVersion: string | undefined;
function compilerVersion(): string {
  esbuildVersion ??= (require('esbuild/package.json') as { version: string }).version;
  return esbuildVersion;
}

/** The record of `entry` in `cacheDir`: one per model file, replaced when the model changes. */
function recordPath(cacheDir: string, entry: string): string {
  return join(cacheDir, `${sha256(entry).slice(0, 24)}.json`);
}

async function hashFile(path: string): Promise<string | undefined> {
  try {
    return sha256(await readFile(path));
  } catch {
    return undefined;
  }
}

/** The cached module of `entry` when it was compiled from exactly the files there are now. */
async function cachedModule(cacheDir: string, entry: string): Promise<string | undefined> {
  let record: CacheRecord;
  try {
    record = JSON.parse(await readFile(recordPath(cacheDir, entry), 'utf8')) as CacheRecord;
  } catch {
    return undefined;
  }
  if (record.format !== FORMAT || record.entry !== entry || record.esbuild !== compilerVersion()) {
    return undefined;
  }
  const inputs = Object.entries(record.inputs ?? {});
  if (!inputs.some(([path]) => path === entry)) return undefined;
  const hashes = await Promise.all(inputs.map(([path]) => hashFile(path)));
  if (hashes.some((hash, i) => hash !== inputs[i]?.[1])) return undefined;
  const output = join(cacheDir, record.output);
  // The name is the hash of the code: check it, so a damaged file is compiled again rather than run.
  const code = await readFile(output).catch(() => undefined);
  return code !== undefined && `${sha256(code)}.mjs` === record.output ? output : undefined;
}

/** `import.meta.*` as the original file would see it (the compiled module lives elsewhere). */
function withOwnImportMeta(source: string, path: string): string {
  const values: Record<string, string> = {
    url: pathToFileURL(path).href,
    filename: path,
    dirname: dirname(path),
  };
  return source.replace(/\bimport\.meta\.(url|filename|dirname)\b/g, (_, key: string) =>
    JSON.stringify(values[key]),
  );
}

interface Compiled {
  code: string;
  inputs: Record<string, string>;
}

/** Bundles `entry` and the TypeScript files it imports into one ES module; every other import stays external. */
async function compile(entry: string): Promise<Compiled> {
  const esbuild = await import('esbuild');
  const inputs: Record<string, string> = {};
  const result = await esbuild
    .build({
      entryPoints: [entry],
      absWorkingDir: dirname(entry),
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: `node${process.versions.node}`,
      // Node's own conditions only (esbuild would add `module`), so an external resolves as Node resolves it.
      conditions: [],
      sourcemap: 'inline',
      sourcesContent: false,
      // The map's sources are relative to this, not to wherever the compiled module is written.
      sourceRoot: `${pathToFileURL(dirname(entry)).href}/`,
      logLevel: 'silent',
      plugins: [
        {
          name: 'nodix-models',
          setup(build) {
            build.onResolve({ filter: /.*/ }, async (args) => {
              if (args.kind === 'entry-point' || args.pluginData === 'nodix-inner') return undefined;
              if (isBuiltin(args.path)) return { path: args.path, external: true };
              // The library models are written against is this CLI's own, wherever the model lives: a model
              // copied out of a project (no node_modules of its own) still finds it, and one inside a project
              // gets the same instance the CLI runs with, not a second copy of another version.
              if (OWN_PACKAGE.test(args.path))
                return { path: import.meta.resolve(args.path), external: true };
              const resolved = await build.resolve(args.path, {
                kind: args.kind,
                importer: args.importer,
                resolveDir: args.resolveDir,
                pluginData: 'nodix-inner',
              });
              if (resolved.errors.length > 0) return { errors: resolved.errors };
              if (resolved.external || TYPESCRIPT.has(extname(resolved.path))) return resolved;
              return { path: pathToFileURL(resolved.path).href, external: true };
            });
            // TypeScript files, and a JavaScript entry (the other JavaScript files it imports stay external).
            build.onLoad({ filter: /\.([cm]?tsx?|m?js)$/ }, async (args) => {
              const source = await readFile(args.path);
              inputs[args.path] = sha256(source);
              const extension = extname(args.path);
              return {
                contents: withOwnImportMeta(source.toString('utf8'), args.path),
                loader: extension.endsWith('x') ? 'tsx' : TYPESCRIPT.has(extension) ? 'ts' : 'js',
              };
            });
          },
        },
      ],
    })
    .catch((error: unknown) => {
      throw new Error(describeBuildError(error), { cause: error });
    });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced no output');
  return { code: output.text, inputs };
}

/** esbuild's first error as one line, `file:line:column: text` (its own message starts "Build failed with"). */
function describeBuildError(error: unknown): string {
  const first = (
    error as {
      errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }>;
    }
  ).errors?.[0];
  if (first === undefined) return error instanceof Error ? error.message : String(error);
  const where = first.location
    ? `${first.location.file}:${first.location.line}:${first.location.column + 1}: `
    : '';
  return `${where}${first.text}`;
}

/** Writes `data` to `path` all at once (temp file, rename): a concurrent reader sees the old file or the new one. */
async function writeWhole(path: string, data: string): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, data, { mode: 0o600 });
  await rename(temp, path);
}

/**
 * Imports a TypeScript model file (an absolute path) and returns its module namespace. `cacheDir`, when given, keeps
 * the compiled module for the next load; without it the module is written to a temporary directory, imported and
 * deleted. Compile errors are thrown as esbuild reports them (the first line says what and where).
 */
export async function importTypeScript(entry: string, cacheDir?: string): Promise<Record<string, unknown>> {
  // Once per process: stack frames of compiled models map back to their TypeScript lines (what tsx did too).
  process.setSourceMapsEnabled(true);
  if (cacheDir !== undefined) {
    const cached = await cachedModule(cacheDir, entry);
    if (cached !== undefined) return (await import(pathToFileURL(cached).href)) as Record<string, unknown>;
  }
  const { code, inputs } = await compile(entry);
  const name = `${sha256(code)}.mjs`;
  if (cacheDir === undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'nodix-model-'));
    try {
      await writeFile(join(dir, name), code, { mode: 0o600 });
      return (await import(pathToFileURL(join(dir, name)).href)) as Record<string, unknown>;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const record: CacheRecord = { format: FORMAT, esbuild: compilerVersion(), entry, inputs, output: name };
  const previous = await readFile(recordPath(cacheDir, entry), 'utf8')
    .then((text) => (JSON.parse(text) as CacheRecord).output)
    .catch(() => undefined);
  await writeWhole(join(cacheDir, name), code);
  await writeWhole(recordPath(cacheDir, entry), `${JSON.stringify(record, null, 2)}\n`);
  // One compiled module per model file: the one this replaces goes (already-loaded modules are unaffected).
  if (previous !== undefined && previous !== name && /^[0-9a-f]{64}\.mjs$/.test(previous)) {
    await rm(join(cacheDir, previous), { force: true });
  }
  return (await import(pathToFileURL(join(cacheDir, name)).href)) as Record<string, unknown>;
}
