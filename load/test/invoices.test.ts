import { describe, expect, test } from 'vitest';

import { halfRate, invoiceScenario, processCpuTicks, steadyRate } from '../src/bench/invoices.js';

describe('steadyRate', () => {
  test('counts the completions between the first and the last tenth, not the start-up or the tail', () => {
    // 10 completions in the first second (warm-up), then one every 10 ms for 8 s, then a slow tail
    const warmUp = Array.from({ length: 10 }, (_, i) => i * 100);
    const steady = Array.from({ length: 800 }, (_, i) => 1_000 + i * 10);
    const tail = Array.from({ length: 10 }, (_, i) => 9_000 + i * 500);
    const rate = steadyRate([...tail, ...steady, ...warmUp]);
    expect(rate.perSecond).toBeCloseTo(100, 6);
    expect(rate.jobs).toBe(Math.ceil(820 * 0.9) - Math.floor(820 * 0.1));
    expect(rate.windowMs).toBe((rate.jobs - 1) * 10);
  });

  test('is 0 with too few completions or all at one instant, never a division by zero', () => {
    expect(steadyRate([])).toEqual({ perSecond: 0, jobs: 0, windowMs: 0 });
    expect(steadyRate([5])).toEqual({ perSecond: 0, jobs: 0, windowMs: 0 });
    expect(steadyRate([7, 7, 7, 7, 7]).perSecond).toBe(0);
  });
});

describe('halfRate', () => {
  test('is half the throughput, rounded down, within the seeded orders, and at least 1/s', () => {
    expect(halfRate(123.9, 2000, 20_000)).toBe(61);
    // 2000 orders over 20 s hold 100/s: one order per job
    expect(halfRate(400, 2000, 20_000)).toBe(100);
    expect(halfRate(0.5, 2000, 20_000)).toBe(1);
  });
});

describe('invoiceScenario', () => {
  test('sends the n-th enqueue for the n-th order, wrapping round, and expects 202', () => {
    const scenario = invoiceScenario(50, 2_000, ['a', 'b', 'c']);
    const spec = scenario.flows[0]?.mix[0];
    expect(scenario.flows[0]?.arrival).toEqual({ model: 'constant', rate: 50, durationMs: 2_000 });
    expect(spec?.expectStatus).toBe(202);
    const path = (n: number): string | undefined =>
      spec?.path({
        n,
        seed: { baseUrl: '', email: '', password: '', productIds: [], orderId: '', addressBase: 0 },
        user: { index: 0, address: '', token: '', signedInAt: 0 },
      });
    expect([0, 1, 2, 3].map(path)).toEqual([
      '/api/v1/orders/a/invoice',
      '/api/v1/orders/b/invoice',
      '/api/v1/orders/c/invoice',
      '/api/v1/orders/a/invoice',
    ]);
  });
});

describe('processCpuTicks', () => {
  test('reads a live process and grows as it works; a gone process is undefined', () => {
    const before = processCpuTicks(process.pid);
    expect(before).toBeGreaterThanOrEqual(0);
    const until = Date.now() + 300;
    while (Date.now() < until) Math.sqrt(Math.random());
    expect(processCpuTicks(process.pid)).toBeGreaterThan(before ?? Number.POSITIVE_INFINITY);
    expect(processCpuTicks(2 ** 22 + 1)).toBeUndefined();
  });
});
