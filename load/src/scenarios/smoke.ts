/**
 * Smoke: SMOKE_VUS virtual users (default 2) for SMOKE_DURATION (default 5s) walk the API's main path: create a
 * product, read the catalog and one product, place an order and read it back. Thresholds are the SLOs.
 *   TARGET_URL=http://127.0.0.1:8080 .tools/bin/k6 run load/src/scenarios/smoke.ts
 */
import type { ConstantVUsScenario, Options } from 'k6/options';

import {
  createOrder,
  createProduct,
  duration,
  read,
  seed,
  sloThresholds,
  summaryOutputs,
  wholeNumber,
  type Seed,
  type SummaryData,
} from './erp-api.ts';

const SCENARIO = 'smoke';

// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- @types/k6 types scenarios as an abstract class; k6 reads plain objects
const smoke: ConstantVUsScenario = {
  executor: 'constant-vus',
  vus: wholeNumber('SMOKE_VUS', 2),
  duration: duration('SMOKE_DURATION', '5s'),
  gracefulStop: '5s',
};

export const options: Options = {
  scenarios: { [SCENARIO]: smoke },
  thresholds: { ...sloThresholds({ scenario: SCENARIO }), checks: ['rate==1'] },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup(): Seed {
  return seed(wholeNumber('SMOKE_PRODUCTS', 3));
}

export default function (seeded: Seed): void {
  const productId = createProduct(seeded, `${String(__VU)}-${String(__ITER)}-${String(Date.now())}`);
  read(seeded, '/api/v1/products?limit=20', 'list-products');
  if (productId !== '') read(seeded, `/api/v1/products/${productId}`, 'get-product');
  const orderId = createOrder(seeded);
  if (orderId !== '') read(seeded, `/api/v1/orders/${orderId}`, 'get-order');
  read(seeded, '/api/v1/orders?limit=20', 'list-orders');
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryOutputs(SCENARIO, data);
}
