/**
 * One line saying where a JSON text stops being JSON, for route-table errors. V8's own JSON.parse messages quote
 * a piece of the text (raw newlines and all) and give no position at all for an unexpected token, so a YAML file
 * used as a routes file printed a multi-line message that said neither where nor what.
 *
 * Only runs after JSON.parse failed (never on a good file): a small scanner of RFC 8259's grammar that returns
 * the first offset where the text departs from it.
 */

/** `not valid JSON at line L, column C: <what>`, on one line (the cause is shown escaped, at most 20 characters). */
export function describeJsonError(text: string): string {
  const { offset, expected } = firstJsonError(text);
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const column = offset - lineStart + 1;
  const found =
    offset >= text.length
      ? 'the end of the file'
      : JSON.stringify(text.slice(offset, offset + 20).split(/\r?\n/)[0]);
  const first = text.trimStart().charAt(0);
  // A routes file in YAML (or TOML, or anything but JSON) starts with a letter or a `#` comment.
  const hint = /[A-Za-z#-]/.test(first)
    ? ' (the routes file must be JSON; YAML and other formats are not read)'
    : '';
  return `not valid JSON at line ${line}, column ${column}: expected ${expected}, found ${found}${hint}`;
}

/** The offset of the first character that is not JSON, and what was expected there. */
export function firstJsonError(text: string): { offset: number; expected: string } {
  let i = 0;
  const fail = (expected: string): never => {
    throw { offset: i, expected };
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    for (const c of word) {
      if (text[i] !== c) fail(JSON.stringify(word));
      i++;
    }
  };
  const string = () => {
    i++; // the opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail('a closing quote (a raw control character is not allowed in a string)');
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) fail('a \\uXXXX escape');
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail('an escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)');
      } else i++;
    }
    fail('a closing quote');
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (match === null) fail('a value');
    i += match![0].length;
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail('a property name in double quotes');
        string();
        space();
        if (text[i] !== ':') fail("':'");
        i++;
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      space();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail("',' or ']'");
      }
    }
    if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else number();
  };
  try {
    value();
    space();
    if (i < text.length) fail('the end of the file after the JSON value');
  } catch (err) {
    if (typeof (err as { offset?: unknown }).offset === 'number')
      return err as { offset: number; expected: string };
    throw err;
  }
  // JSON.parse failed where this scanner did not (it should not happen): point at the start.
  return { offset: 0, expected: 'JSON' };
}
