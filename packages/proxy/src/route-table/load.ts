import { readFile } from 'node:fs/promises';
import { RouteTableError } from '../errors.js';
import { type ValidatedRouteTable, validateRouteTable } from './validate.js';

export interface LoadedRouteTable {
  /** The file's text, kept so that a watcher can skip a change event that left the content as it was. */
  text: string;
  table: ValidatedRouteTable;
}

/** Parses and validates route-table JSON text; `source` (a path or a label) names it in errors. */
export function parseRouteTable(text: string, source: string): ValidatedRouteTable {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RouteTableError(source, '', `not valid JSON: ${(err as Error).message}`);
  }
  return validateRouteTable(value, source);
}

/** Reads, parses and validates a route-table file. Every failure is a RouteTableError naming the file. */
export async function loadRouteTableFile(file: string): Promise<LoadedRouteTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RouteTableError(file, '', `cannot read the file (${e.code ?? e.message})`);
  }
  return { text, table: parseRouteTable(text, file) };
}
