/**
 * The benchmark's k6 script, one measurement per run, chosen by BENCH_SCENARIO; run by load/src/bench/run.ts, which
 * seeds the app and passes the account, token and product by environment:
 * - `cached-read`: open model, BENCH_RATE (1000) GET /api/v1/products/:id per second for BENCH_DURATION (60s)
 * - `orders`: open model, BENCH_RATE (200) POST /api/v1/orders per second
 * - `logins`: open model, BENCH_RATE (50) POST /api/v1/auth/login per second, each from its own X-Forwarded-For
 * - `closed`: closed model, BENCH_VUS (50) users each GET the cached read again as soon as it is answered; run against
 *   the app and the bare server alike
 * No thresholds: the runner judges the numbers against its targets.
 */
import { check } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import type { ConstantArrivalRateScenario, ConstantVUsScenario, Options } from 'k6/options';

import { duration, wholeNumber } from './erp-api.ts';

const KINDS = ['cached-read', 'orders', 'logins', 'closed'] as const;
type Kind = (typeof KINDS)[number];
const DEFAULT_RATES: Readonly<Record<Exclude<Kind, 'closed'>, number>> = {
  'cached-read': 1000,
  orders: 200,
  logins: 50,
};

function required(name: string, example: string): string {
  const value = __ENV[name];
  if (!value) throw new Error(`${name} is not set; the benchmark runner sets it (e.g. ${name}=${example})`);
  return value;
}

const kind = required('BENCH_SCENARIO', 'cached-read') as Kind;
if (!KINDS.includes(kind)) {
  throw new Error(`BENCH_SCENARIO=${JSON.stringify(kind)} is not valid: use one of ${KINDS.join(', ')}`);
}
const baseUrl = required('TARGET_URL', 'http://127.0.0.1:8080').replace(/\/+$/, '');
const productUrl = `${baseUrl}/api/v1/products/${required('BENCH_PRODUCT_ID', '<uuid>')}`;
const auth = { Authorization: `Bearer ${required('BENCH_TOKEN', '<access token>')}` };
const length = duration('BENCH_DURATION', '60s');

function scenario(): ConstantArrivalRateScenario | ConstantVUsScenario {
  if (kind === 'closed') {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- @types/k6 types scenarios as an abstract class; k6 reads plain objects
    const closed: ConstantVUsScenario = {
      executor: 'constant-vus',
      vus: wholeNumber('BENCH_VUS', 50),
      duration: length,
      gracefulStop: '5s',
    };
    return closed;
  }
  const rate = wholeNumber('BENCH_RATE', DEFAULT_RATES[kind]);
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- as above
  const open: ConstantArrivalRateScenario = {
    executor: 'constant-arrival-rate',
    rate,
    timeUnit: '1s',
    duration: length,
    preAllocatedVUs: wholeNumber('BENCH_PREALLOCATED_VUS', Math.max(5, Math.ceil(rate / 10))),
    maxVUs: wholeNumber('BENCH_MAX_VUS', Math.max(20, rate)),
    gracefulStop: '5s',
  };
  return open;
}

export const options: Options = {
  scenarios: { [kind]: scenario() },
  // Only the status is checked; not keeping bodies leaves more CPU to the server under test.
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

// Orders spread over the seeded order catalogue, as real carts do: one hot product would serialise every order on
// its row lock and measure that lock instead of the service.
const orderBodies = (__ENV.BENCH_ORDER_PRODUCT_IDS ?? __ENV.BENCH_PRODUCT_ID ?? '')
  .split(',')
  .map((productId) => JSON.stringify({ items: [{ product_id: productId, quantity: 1 }] }));
const loginBody = JSON.stringify({ email: __ENV.BENCH_EMAIL, password: __ENV.BENCH_PASSWORD });
const addressBase = Number(__ENV.BENCH_ADDRESS_BASE ?? '0');

/** A 10.0.0.0/8 address per sign-in: the app limits sign-ins per client IP and trusts the header (TRUST_PROXY=1). */
function address(n: number): string {
  const index = (addressBase + n) % 2 ** 24;
  return `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}

export default function (): void {
  if (kind === 'orders') {
    const body = orderBodies[exec.scenario.iterationInTest % orderBodies.length];
    const response = http.post(`${baseUrl}/api/v1/orders`, body, {
      headers: { ...auth, 'Content-Type': 'application/json' },
    });
    check(response, { 'order created (201)': (r) => r.status === 201 });
  } else if (kind === 'logins') {
    const response = http.post(`${baseUrl}/api/v1/auth/login`, loginBody, {
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': address(exec.scenario.iterationInTest) },
    });
    check(response, { 'signed in (200)': (r) => r.status === 200 });
  } else {
    check(http.get(productUrl, { headers: auth }), { 'product read (200)': (r) => r.status === 200 });
  }
}

/** The whole summary as JSON to SUMMARY_PATH for the runner, and one line for a person. */
export function handleSummary(data: {
  readonly metrics: Record<string, { readonly values: Record<string, number> } | undefined>;
}): Record<string, string> {
  const requests = data.metrics.http_reqs?.values.count ?? 0;
  const rate = data.metrics.http_reqs?.values.rate ?? 0;
  const p99 = data.metrics.http_req_duration?.values['p(99)'] ?? 0;
  const failed = data.metrics.checks?.values.fails ?? 0;
  const outputs: Record<string, string> = {
    stdout: `${kind} ${baseUrl}: ${requests} requests, ${rate.toFixed(0)} req/s, p99 ${p99.toFixed(2)} ms, ${failed} failed\n`,
  };
  if (__ENV.SUMMARY_PATH) outputs[__ENV.SUMMARY_PATH] = JSON.stringify(data, null, 2);
  return outputs;
}
