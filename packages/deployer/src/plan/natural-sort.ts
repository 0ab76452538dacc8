/**
 * Natural order: digit runs compare as numbers, so `webapp2` sorts before `webapp10`. Written by hand rather than
 * with Intl.Collator so that the order (and thus every plan nodix prints) is the same on every machine and ICU.
 */
export function naturalCompare(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      // Compare the two digit runs as numbers of any size: skip leading zeros, then longer run = bigger number.
      const startA = i;
      const startB = j;
      while (i < a.length && isDigit(a.charCodeAt(i))) i++;
      while (j < b.length && isDigit(b.charCodeAt(j))) j++;
      let za = startA;
      let zb = startB;
      while (za < i - 1 && a.charCodeAt(za) === 48) za++;
      while (zb < j - 1 && b.charCodeAt(zb) === 48) zb++;
      const lengthDifference = i - za - (j - zb);
      if (lengthDifference !== 0) return lengthDifference;
      for (let k = 0; k < i - za; k++) {
        const difference = a.charCodeAt(za + k) - b.charCodeAt(zb + k);
        if (difference !== 0) return difference;
      }
      // Same number: fewer leading zeros first, so that the order stays total.
      const zeros = za - startA - (zb - startB);
      if (zeros !== 0) return zeros;
      continue;
    }
    if (ca !== cb) return ca - cb;
    i++;
    j++;
  }
  return a.length - i - (b.length - j);
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

export function naturalSort(names: Iterable<string>): string[] {
  return [...names].sort(naturalCompare);
}

/** A copy of `record` whose keys are in natural order (JSON output is then deterministic). */
export function sortKeysNaturally<T>(record: Record<string, T>): Record<string, T> {
  // fromEntries defines keys as own data properties, so even a key named `__proto__` stays a plain key.
  return Object.fromEntries(naturalSort(Object.keys(record)).map((key) => [key, record[key] as T]));
}
