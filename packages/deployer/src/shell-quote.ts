/** Quotes one word for a POSIX shell only when it needs it, so the usual case stays copyable as it is. */
export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
