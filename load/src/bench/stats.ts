/** The middle value of a sample (the mean of the two middle ones for an even count); robust to one outlier run. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty sample is undefined; measure at least one run');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  if (sorted.length % 2 === 1) return upper;
  return ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}
