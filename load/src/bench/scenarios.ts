import type { RequestSpec, Scenario } from '../engine/model.js';
import { createOrder, signIn } from '../scenarios/erp-api.js';

/** The benchmark's measurements, each a scenario with one flow and no thresholds: the runner judges the numbers. */
export type BenchMeasurement =
  | { readonly kind: 'cached-read'; readonly rate: number; readonly durationMs: number; readonly productId: string }
  | { readonly kind: 'orders'; readonly rate: number; readonly durationMs: number }
  | { readonly kind: 'logins'; readonly rate: number; readonly durationMs: number }
  | { readonly kind: 'closed'; readonly workers: number; readonly durationMs: number; readonly productId: string };

function productRead(productId: string): RequestSpec {
  return {
    endpoint: 'get-product',
    weight: 1,
    method: 'GET',
    path: () => `/api/v1/products/${productId}`,
    authenticated: true,
    expectStatus: 200,
  };
}

export function benchScenario(measurement: BenchMeasurement): Scenario {
  const flow = (mix: readonly RequestSpec[]): Scenario['flows'][number] => ({
    name: measurement.kind,
    arrival:
      measurement.kind === 'closed'
        ? { model: 'closed', workers: measurement.workers, durationMs: measurement.durationMs }
        : { model: 'constant', rate: measurement.rate, durationMs: measurement.durationMs },
    mix,
  });
  const mix =
    measurement.kind === 'orders'
      ? [createOrder]
      : measurement.kind === 'logins'
        ? [signIn]
        : [productRead(measurement.productId)];
  return {
    name: measurement.kind,
    description: `the benchmark's ${measurement.kind} measurement`,
    products: 0,
    users: 1,
    flows: [flow(mix)],
    thresholds: {},
  };
}
