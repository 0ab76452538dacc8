/** Small predicates and value descriptions for the validation messages of every model. */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as an error message shows it: short, typed, never a multi-line dump. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object' && typeof (value as { name?: unknown }).name === 'string') {
    return `an object named ${JSON.stringify((value as { name: string }).name)}`;
  }
  return `a ${typeof value}`;
}

/**
 * Names used as object keys, file names and graph node ids. `__proto__` is refused because assigning it to a plain
 * object would change the object's prototype instead of adding a key.
 */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$/;

export function nameProblem(name: string): string | undefined {
  if (name === '__proto__') return 'is a reserved name';
  if (!NAME.test(name))
    return 'must start with a letter, digit or _ and contain only letters, digits and _ . @ + -';
  return undefined;
}

/** Lists names for a message, at most `max` of them. */
export function listNames(names: readonly string[], max = 10): string {
  if (names.length === 0) return '(none)';
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')}, ... (${names.length - max} more)`;
}

export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}
