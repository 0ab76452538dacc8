/**
 * The arithmetic of the report: medians, same-round ratios and target verdicts. Pure, so it is tested by tables.
 */

/** Median of a list; NaN for an empty list (a missing figure must not look like a zero). */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return Number.NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * One ratio per round (`of[i] / over[i]`), then their median. Ratios are taken within a round because the two
 * setups ran seconds apart on the same machine state; the median then drops the rounds disturbed by something
 * else on the machine. A round where either side is missing or the divisor is zero gives no ratio.
 */
export function sameRoundRatios(
  of: readonly number[],
  over: readonly number[],
): { perRound: number[]; median: number } {
  const perRound: number[] = [];
  const rounds = Math.min(of.length, over.length);
  for (let i = 0; i < rounds; i++) {
    const a = of[i]!;
    const b = over[i]!;
    perRound.push(Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN);
  }
  return { perRound, median: median(perRound) };
}

export interface Target {
  /** The figure must be at least this. */
  min?: number;
  /** The figure must be at most this. */
  max?: number;
}

export type Verdict = 'PASS' | 'MISS' | 'n/a';

/** PASS when the figure meets every bound of the target, MISS when it does not, n/a without a figure or target. */
export function verdict(value: number, target: Target | undefined): Verdict {
  if (!target || !Number.isFinite(value)) return 'n/a';
  if (target.min !== undefined && value < target.min) return 'MISS';
  if (target.max !== undefined && value > target.max) return 'MISS';
  return 'PASS';
}

/** `>= 0.95`, `<= 2`, `0.9 .. 1.1`: how a target reads in the report. */
export function describeTarget(target: Target | undefined): string {
  if (!target) return '';
  if (target.min !== undefined && target.max !== undefined) return `${target.min} .. ${target.max}`;
  if (target.min !== undefined) return `>= ${target.min}`;
  if (target.max !== undefined) return `<= ${target.max}`;
  return '';
}

/** Growth exponent between two sizes: 1 is linear, 2 quadratic (log(t2/t1) / log(n2/n1)). */
export function growthExponent(n1: number, t1: number, n2: number, t2: number): number {
  if (!(n1 > 0 && n2 > 0 && t1 > 0 && t2 > 0) || n1 === n2) return Number.NaN;
  return Math.log(t2 / t1) / Math.log(n2 / n1);
}
