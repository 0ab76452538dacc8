import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ModelLoadError, NodixError } from '../errors.js';
import { importTypeScript } from './compile.js';

const SCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

export interface ImportModelOptions {
  /** Where compiled TypeScript models are kept between runs (`nodix deploy`: in its state dir); none: not kept. */
  cacheDir?: string;
}

/**
 * Reads a model file and returns its default export (a value, or a function of the other models). TypeScript is
 * compiled at run time (./compile.ts), so model authors need no build step; `file` is reported as the user wrote it.
 */
export async function importModel(
  file: string,
  cwd: string,
  options: ImportModelOptions = {},
): Promise<unknown> {
  const path = resolve(cwd, file);
  const extension = extname(path);
  if (extension !== '.json' && !SCRIPT_EXTENSIONS.has(extension)) {
    throw new ModelLoadError(
      file,
      `unsupported model file type '${extension || '(none)'}'; use .ts, .mts, .js, .mjs or .json`,
    );
  }
  try {
    if (!(await stat(path)).isFile()) throw new ModelLoadError(file, 'is not a file');
  } catch (error) {
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(file, 'no such file', { cause: error });
  }
  if (extension === '.json') return readJsonFile(file, path);

  let module: Record<string, unknown>;
  try {
    const url = pathToFileURL(path).href;
    if (extension === '.js' || extension === '.mjs') {
      module = await import(url).catch((error: NodeJS.ErrnoException) => {
        // A JavaScript model outside any project that has @nodix/deployer installed: Node cannot find the
        // package from there, the compiler can (it resolves it to this CLI's own), so it is loaded through it.
        if (error.code === 'ERR_MODULE_NOT_FOUND' && /'@nodix\/deployer[/']/.test(error.message)) {
          return importTypeScript(path, options.cacheDir);
        }
        throw error;
      });
    } else {
      module = await importTypeScript(path, options.cacheDir);
    }
  } catch (error) {
    throw new ModelLoadError(file, `cannot be loaded: ${firstLine(error)}`, { cause: error });
  }
  if (!('default' in module) || module.default === undefined) {
    throw new ModelLoadError(file, 'has no default export (export the model as `export default ...`)');
  }
  return module.default;
}

/** Reads a JSON input (a `.json` model, a previous distribution, a ports file). */
export async function readJsonFile(file: string, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelLoadError(
      file,
      code === 'ENOENT' ? 'no such file' : `cannot be read: ${firstLine(error)}`,
      {
        cause: error,
      },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(file, `is not valid JSON: ${firstLine(error)}`, { cause: error });
  }
}

/**
 * Evaluates a model: calls it with `args` when it is a function (awaiting it if it is async), returns it as is
 * otherwise. A model function that throws is the model author's mistake, reported as such with no stack.
 */
export async function evaluateModel(
  model: unknown,
  args: Record<string, unknown>,
  file: string,
): Promise<unknown> {
  if (typeof model !== 'function') return model;
  try {
    return await model(args);
  } catch (error) {
    // Our own errors (a qos filter's NoRoomError, a nested model's ModelError) already say what is wrong.
    if (error instanceof NodixError) throw error;
    const where = locateInStack(error, file);
    throw new ModelLoadError(
      file,
      `the model function threw: ${firstLine(error)}${where ? ` (at ${where})` : ''}`,
      {
        cause: error,
      },
    );
  }
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0] ?? message;
}

/** The `file:line:column` of the first stack frame inside the model file, so the author sees where it failed. */
function locateInStack(error: unknown, file: string): string | undefined {
  if (!(error instanceof Error) || !error.stack) return undefined;
  const base = file.split(/[\\/]/).pop() ?? file;
  for (const line of error.stack.split('\n').slice(1)) {
    const match = /\(?((?:file:\/\/)?[^\s()]+):(\d+):(\d+)\)?\s*$/.exec(line);
    // A module loader may add a query to the URLs of the modules it loads (tsx: `?tsx-namespace=...`).
    if (match?.[1]?.replace(/\?.*$/, '').endsWith(base)) return `${file}:${match[2]}:${match[3]}`;
  }
  return undefined;
}
