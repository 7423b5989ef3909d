/**
 * Smoke: SMOKE_VUS workers (default 2) for SMOKE_DURATION (default 5s), a closed model, walk the API's main path:
 * create a product, list the catalog, read a product, place an order, read the seeded order, list orders. Every
 * answer must have its expected status (checks rate==1); the SLOs are thresholds too.
 */
import type { Scenario } from '../engine/model.js';
import { durationMs, wholeNumber, type Env } from '../engine/settings.js';
import { sloThresholds } from '../engine/thresholds.js';
import { createOrder, createProduct, getOrder, getProduct, listOrders, listProducts } from './erp-api.js';

export function smoke(env: Env): Scenario {
  return {
    name: 'smoke',
    description: 'the main path, every answer checked',
    products: wholeNumber(env, 'SMOKE_PRODUCTS', 3),
    users: wholeNumber(env, 'SMOKE_USERS', 1),
    flows: [
      {
        name: 'smoke',
        arrival: {
          model: 'closed',
          workers: wholeNumber(env, 'SMOKE_VUS', 2),
          durationMs: durationMs(env, 'SMOKE_DURATION', '5s'),
        },
        mix: [createProduct, listProducts, getProduct, createOrder, getOrder, listOrders],
      },
    ],
    thresholds: { ...sloThresholds(), checks: ['rate==1'] },
  };
}
