import { describe, expect, test } from 'vitest';

import { median } from '../src/bench/stats.js';

describe('median', () => {
  test('is the middle value of an odd sample, whatever its order', () => {
    expect(median([9, 1, 5])).toBe(5);
    expect(median([7])).toBe(7);
  });

  test('is the mean of the two middle values of an even sample', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  test('ignores one outlier run', () => {
    expect(median([1000, 1010, 20])).toBe(1000);
  });

  test('leaves its input in the order given', () => {
    const sample = [3, 1, 2];
    median(sample);
    expect(sample).toEqual([3, 1, 2]);
  });

  test('refuses an empty sample', () => {
    expect(() => median([])).toThrow(/empty sample/);
  });
});
