import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { RouteTableError } from '../errors.js';
import { describeJsonError } from './json-error.js';
import type { RouteTableConfig } from './types.js';
import { type ValidatedRouteTable, validatedTable, validateRouteTable } from './validate.js';

export interface LoadedRouteTable {
  /** The file's text, kept so that a watcher can skip a change event that left the content as it was. */
  text: string;
  table: ValidatedRouteTable;
}

/**
 * Parses and validates route-table JSON text; `source` (a path or a label) names it in errors.
 *
 * The parsed document is not kept: `config` parses the text again when asked (`GET /route-table`, a cluster
 * primary handing the table to its workers). The text is held anyway (a reload compares it), and it is several
 * times smaller than the object graph JSON.parse makes of it: ~200 bytes per host of a 10 000-host table.
 */
export function parseRouteTable(
  text: string,
  source: string,
  baseDir: string = dirname(resolve(source)),
): ValidatedRouteTable {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // V8's message quotes the text (newlines and all) and often gives no position: say where, on one line.
    throw new RouteTableError(source, '', describeJsonError(text));
  }
  const { hosts, errorPages, defaultTls } = validateRouteTable(value, source, baseDir);
  return validatedTable(hosts, errorPages, defaultTls, () => JSON.parse(text) as RouteTableConfig);
}

/** Reads a route-table file's text; a failure is a RouteTableError naming the file. */
export async function readRouteTableText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RouteTableError(file, '', `cannot read the file (${e.code ?? e.message})`);
  }
}

/**
 * Reads, parses and validates a route-table file. Every failure is a RouteTableError naming the file. With
 * `unlessText`, a file whose text is exactly that is not parsed at all (null): a watcher sees events for every
 * file in the directory, and parsing and validating a 10 000-host table costs tens of MB of short-lived objects.
 */
export async function loadRouteTableFile(file: string): Promise<LoadedRouteTable>;
export async function loadRouteTableFile(
  file: string,
  unlessText: string | null,
): Promise<LoadedRouteTable | null>;
export async function loadRouteTableFile(
  file: string,
  unlessText: string | null = null,
): Promise<LoadedRouteTable | null> {
  const text = await readRouteTableText(file);
  if (unlessText !== null && text === unlessText) return null;
  return { text, table: parseRouteTable(text, file) };
}

/**
 * Reads a routes file for reloads. It remembers the last text it read, applied or refused: with `onlyIfChanged`
 * (a watched change) the same text again is neither parsed nor counted, so a bad file is rejected once, not once
 * per event, and a rewrite with the same content swaps nothing. Without it (SIGHUP, POST /reload: an operator
 * asked) the file is always parsed. Resolves null when skipped; rejects with RouteTableError.
 */
export function createRoutesFileReader(
  file: string,
  initialText: string | null,
): (onlyIfChanged: boolean) => Promise<LoadedRouteTable | null> {
  let lastSeen = initialText;
  return async (onlyIfChanged) => {
    let text: string;
    try {
      text = await readRouteTableText(file);
    } catch (err) {
      // Missing or unreadable: worth saying once, again only after the file was readable in between.
      if (onlyIfChanged && lastSeen === null) return null;
      lastSeen = null;
      throw err;
    }
    if (onlyIfChanged && text === lastSeen) return null;
    lastSeen = text;
    return { text, table: parseRouteTable(text, file) };
  };
}
