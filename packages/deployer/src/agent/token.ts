import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AgentConfigError } from './errors.js';

/** Reads a bearer token from a file: surrounding whitespace (the final newline) is not part of it. */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AgentConfigError(
      `cannot read token file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  const token = text.trim();
  if (token === '') throw new AgentConfigError(`token file ${path} is empty`);
  if (/\s/.test(token)) throw new AgentConfigError(`token file ${path} holds whitespace inside the token`);
  return token;
}

/**
 * Compares a presented token with the expected one in time that does not depend on where they differ. Both are
 * hashed first so that the comparison also does not reveal the expected token's length.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}
