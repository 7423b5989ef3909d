/**
 * What the erp-api scenarios share: the requests of the production-like mix, the bounded sign-ins, and the steady
 * mix of baseline, peak and soak.
 */
import { clientAddress, type Flow, type RequestContext, type RequestSpec, type Scenario } from '../engine/model.js';
import { durationMs, wholeNumber, type Env } from '../engine/settings.js';
import { sloThresholds } from '../engine/thresholds.js';

function pick<T>(items: readonly T[], n: number): T {
  const item = items[n % items.length];
  if (item === undefined) throw new Error('the seed holds nothing to pick from');
  return item;
}

const randomProduct = ({ seed }: RequestContext): string =>
  pick(seed.productIds, Math.floor(Math.random() * seed.productIds.length));

export const listProducts: RequestSpec = {
  endpoint: 'list-products',
  weight: 1,
  method: 'GET',
  path: () => '/api/v1/products?limit=20',
  authenticated: true,
  expectStatus: 200,
};
export const getProduct: RequestSpec = {
  endpoint: 'get-product',
  weight: 1,
  method: 'GET',
  path: (context) => `/api/v1/products/${randomProduct(context)}`,
  authenticated: true,
  expectStatus: 200,
};
export const getOrder: RequestSpec = {
  endpoint: 'get-order',
  weight: 1,
  method: 'GET',
  path: ({ seed }) => `/api/v1/orders/${seed.orderId}`,
  authenticated: true,
  expectStatus: 200,
};
export const listOrders: RequestSpec = {
  endpoint: 'list-orders',
  weight: 1,
  method: 'GET',
  path: () => '/api/v1/orders?limit=20',
  authenticated: true,
  expectStatus: 200,
};
export const createOrder: RequestSpec = {
  endpoint: 'create-order',
  weight: 1,
  method: 'POST',
  path: () => '/api/v1/orders',
  body: (context) => ({ items: [{ product_id: randomProduct(context), quantity: 1 }] }),
  authenticated: true,
  expectStatus: 201,
};
export const createProduct: RequestSpec = {
  endpoint: 'create-product',
  weight: 1,
  method: 'POST',
  path: () => '/api/v1/products',
  body: ({ seed, n, user }) => {
    const sku = `load-${seed.addressBase.toString(36)}-${user.index}-${n}-${Date.now().toString(36)}`;
    return { sku, name: `load product ${sku}`, price_cents: 1999, stock: 1_000_000 };
  },
  authenticated: true,
  expectStatus: 201,
};
/** A sign-in of the seeded account, each from its own client address of the run's block (X-Forwarded-For). */
export const signIn: RequestSpec = {
  endpoint: 'login',
  weight: 1,
  method: 'POST',
  path: () => '/api/v1/auth/login',
  body: ({ seed }) => ({ email: seed.email, password: seed.password }),
  headers: ({ seed, n }) => ({ 'X-Forwarded-For': clientAddress(seed.addressBase, n) }),
  authenticated: false,
  expectStatus: 200,
};

/** The production-like mix: 50 % list products, 20 % read one, 15 % read the seeded order, 5 % list orders, 10 % order. */
export const MIX: readonly RequestSpec[] = [
  { ...listProducts, weight: 50 },
  { ...getProduct, weight: 20 },
  { ...getOrder, weight: 15 },
  { ...listOrders, weight: 5 },
  { ...createOrder, weight: 10 },
];

/** Sign-ins beside the mix at LOGIN_RATE (default 1/s): sign-in is slow on purpose (password hashing) and limited. */
export function boundedLogins(env: Env, length: number): Flow {
  return {
    name: 'logins',
    arrival: { model: 'constant', rate: wholeNumber(env, 'LOGIN_RATE', 1), durationMs: length },
    mix: [signIn],
  };
}

export interface SteadyMixDefaults {
  readonly name: string;
  /** Prefix of its variables: <PREFIX>_RATE, <PREFIX>_DURATION, <PREFIX>_PRODUCTS, <PREFIX>_USERS. */
  readonly prefix: string;
  readonly rate: number;
  readonly duration: string;
  readonly description: string;
}

/**
 * The production-like mix at a constant arrival rate plus bounded sign-ins, judged by the SLO thresholds: the body of
 * baseline, peak and soak, which differ in name and defaults.
 */
export function steadyMix(env: Env, defaults: SteadyMixDefaults): Scenario {
  const length = durationMs(env, `${defaults.prefix}_DURATION`, defaults.duration);
  return {
    name: defaults.name,
    description: defaults.description,
    products: wholeNumber(env, `${defaults.prefix}_PRODUCTS`, 20),
    users: wholeNumber(env, `${defaults.prefix}_USERS`, 10),
    flows: [
      {
        name: defaults.name,
        arrival: {
          model: 'constant',
          rate: wholeNumber(env, `${defaults.prefix}_RATE`, defaults.rate),
          durationMs: length,
        },
        mix: MIX,
      },
      boundedLogins(env, length),
    ],
    thresholds: sloThresholds(),
  };
}
