import { createHash } from 'node:crypto';
import { naturalCompare } from './natural-sort.js';

/**
 * Copies `value` as plain JSON data with object keys in a fixed order, so that equal data always serialises to
 * equal text (and hashes equally). `undefined` properties are dropped, as JSON.stringify drops them; anything JSON
 * cannot carry is reported through `invalid(path, why)`, which throws.
 */
export function toCanonicalJson(
  value: unknown,
  path: string,
  invalid: (path: string, why: string) => never,
): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : invalid(path, `is ${value}, which JSON cannot hold`);
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        return value.map((item, index) =>
          item === undefined
            ? invalid(`${path}[${index}]`, 'is undefined')
            : toCanonicalJson(item, `${path}[${index}]`, invalid),
        );
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) {
        return invalid(
          path,
          `is a ${prototype?.constructor?.name ?? 'non-plain'} object; only plain data can be deployed`,
        );
      }
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(value).sort(naturalCompare)) {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined) continue;
        Object.defineProperty(copy, key, {
          value: toCanonicalJson(item, `${path}.${key}`, invalid),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return copy;
    }
    default:
      return invalid(
        path,
        `is ${typeof value === 'function' ? 'a function' : `a ${typeof value}`}; only JSON data can be deployed`,
      );
  }
}

/** SHA-256 (hex) of already canonical data. */
export function identityHash(canonical: unknown): string {
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}
