/**
 * What every erp-api scenario shares: the SLO thresholds, the seeded account and products, the requests of the
 * realistic mix, and the summary files. Runs inside k6 (imported by the scenarios as ./erp-api.ts).
 */
import { check, fail } from 'k6';
import exec from 'k6/execution';
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import type { ConstantArrivalRateScenario, Options, Threshold } from 'k6/options';

/** Generated from monitoring's K6_THRESHOLDS by load/src/thresholds.ts; a test fails when they differ. */
const SLO_THRESHOLDS = JSON.parse(open('./thresholds.json')) as Record<string, string[]>;

// Only 5xx count as failed, as the availability SLO counts them (monitoring/src/slo.ts).
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

export function targetUrl(): string {
  const url = __ENV.TARGET_URL;
  if (!url) {
    throw new Error('TARGET_URL is not set; set it to the base URL of erp-api, e.g. TARGET_URL=http://127.0.0.1:8080');
  }
  return url.replace(/\/+$/, '');
}

/** A whole number from the environment, or the default; anything else stops k6 with the variable and value. */
export function wholeNumber(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1) {
    throw new Error(
      `${name}=${JSON.stringify(raw)} is not valid: use a whole number of at least 1 (default ${fallback})`,
    );
  }
  return Number(raw);
}

/** A k6 duration (e.g. 30s, 1m30s) from the environment, or the default. */
export function duration(name: string, fallback: string): string {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^(?:\d+h)?(?:\d+m)?(?:\d+s)?$/.test(raw)) {
    throw new Error(
      `${name}=${JSON.stringify(raw)} is not valid: use a k6 duration such as 30s or 1m30s (default ${fallback})`,
    );
  }
  return raw;
}

/** Seconds of a duration accepted by {@link duration} (1h2m3s → 3723). */
export function seconds(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  const [, h = '0', m = '0', s = '0'] = match ?? [];
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
}

export interface ThresholdOptions {
  /** The scenario whose requests get their own copy of each SLO threshold (tag scenario:<name>). */
  readonly scenario: string;
  /** Stop the run as soon as a threshold is crossed, after this warm-up (e.g. '10s'); omit to judge at the end. */
  readonly abortAfter?: string;
}

/** The SLO thresholds, over all requests and over the scenario's own, plus no dropped iterations. */
export function sloThresholds({ scenario, abortAfter }: ThresholdOptions): Record<string, Threshold[]> {
  const rule = (threshold: string): Threshold =>
    abortAfter === undefined ? threshold : { threshold, abortOnFail: true, delayAbortEval: abortAfter };
  const thresholds: Record<string, Threshold[]> = {};
  for (const [metric, rules] of Object.entries(SLO_THRESHOLDS)) {
    thresholds[metric] = rules.map(rule);
    thresholds[`${metric}{scenario:${scenario}}`] = rules.map(rule);
  }
  // An open model that cannot start its iterations on time is not measuring the rate it claims.
  thresholds.dropped_iterations = ['count==0'];
  return thresholds;
}

/**
 * What setup() hands every iteration: one signed-in account, shared (sign-in is limited per IP), and its credentials
 * for scenarios that measure sign-in itself.
 */
export interface Seed {
  readonly baseUrl: string;
  readonly token: string;
  readonly email: string;
  readonly password: string;
  readonly productIds: readonly string[];
  readonly orderId: string;
  /** Start of this run's block of client addresses (see {@link clientAddress}), so runs do not share a budget. */
  readonly addressBase: number;
  /** When setup signed in (ms since the epoch): access tokens live 15 minutes, a soak much longer. */
  readonly signedInAt: number;
}

type Response = RefinedResponse<ResponseType | undefined>;

function bodyText(response: Response): string {
  return typeof response.body === 'string' ? response.body : '';
}

function json(response: Response, what: string): Record<string, unknown> {
  try {
    return response.json() as Record<string, unknown>;
  } catch {
    return fail(
      `${what} answered ${response.status} with a body that is not JSON: ${bodyText(response).slice(0, 200)}`,
    );
  }
}

function expectStatus(response: Response, status: number, what: string, hint = ''): Record<string, unknown> {
  if (response.status !== status) {
    fail(
      `${what} answered ${response.status} (expected ${status}): ${bodyText(response).slice(0, 300)}${response.error ? ` ${response.error}` : ''}${hint}`,
    );
  }
  return json(response, what);
}

function idOf(body: Record<string, unknown>, what: string): string {
  const id = body.id;
  if (typeof id !== 'string') fail(`${what} answered without an id: ${JSON.stringify(body).slice(0, 200)}`);
  return id;
}

function headers(token: string): Record<string, string> {
  return { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
}

/** A name no other run uses: emails, usernames and SKUs are unique in the database. */
function runId(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
}

const ADDRESS_SPACE = 2 ** 24;

/**
 * The n-th client address of a run, in 10.0.0.0/8, sent as X-Forwarded-For on sign-ins. The app limits sign-ins
 * per client IP; it reads this header only with TRUST_PROXY set, a benchmark setting (see load/README.md).
 * Elsewhere the header is ignored and every sign-in counts against the runner's own address.
 */
export function clientAddress(seeded: Pick<Seed, 'addressBase'>, n: number): string {
  const index = (seeded.addressBase + n) % ADDRESS_SPACE;
  return `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}

/** POST /api/v1/auth/login with the seeded credentials from client `address`; returns the response. */
export function login(
  seeded: Pick<Seed, 'baseUrl' | 'email' | 'password'>,
  address: string,
  tags: Record<string, string> = {},
): Response {
  return http.post(
    `${seeded.baseUrl}/api/v1/auth/login`,
    JSON.stringify({ email: seeded.email, password: seeded.password }),
    {
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': address },
      tags: { endpoint: 'login', ...tags },
    },
  );
}

/**
 * The seeding account: SEED_EMAIL and SEED_PASSWORD when set (an account granted admin, which creating products
 * needs), else a fresh self-registered one (enough for a target that lets any account create products).
 */
function seedAccount(baseUrl: string, id: string): { email: string; password: string; given: boolean } {
  const email = __ENV.SEED_EMAIL;
  const password = __ENV.SEED_PASSWORD;
  if (email && password) return { email, password, given: true };
  if (email || password) {
    throw new Error('set both SEED_EMAIL and SEED_PASSWORD (an account with role admin), or neither');
  }
  const username = `k6-${id}`;
  const fresh = { email: `${username}@example.com`, password: `k6-password-${id}` };
  expectStatus(
    http.post(`${baseUrl}/api/v1/auth/register`, JSON.stringify({ ...fresh, username }), {
      headers: { 'Content-Type': 'application/json' },
      tags: { endpoint: 'register' },
    }),
    201,
    `POST ${baseUrl}/api/v1/auth/register`,
  );
  return { ...fresh, given: false };
}

/**
 * Products already in the catalog, for a self-registered (customer) account that may read products but not create
 * them, as against a production canary; empty when the catalog is, or when the account may create its own.
 */
function catalogProducts(session: Pick<Seed, 'baseUrl' | 'token'>, count: number): string[] {
  const response = http.get(`${session.baseUrl}/api/v1/products?limit=${Math.min(count, 100)}`, {
    headers: { Authorization: `Bearer ${session.token}` },
    tags: { endpoint: 'list-products' },
  });
  const probe = http.post(`${session.baseUrl}/api/v1/products`, '{}', {
    headers: headers(session.token),
    tags: { endpoint: 'create-product' },
  });
  // 400 (the empty body) means this account may create products: seed its own, as the scenarios expect
  if (probe.status !== 403 || response.status !== 200) return [];
  const items = json(response, 'GET /api/v1/products').items;
  return Array.isArray(items)
    ? items.flatMap((item: unknown) =>
        typeof item === 'object' && item !== null && typeof (item as { id?: unknown }).id === 'string'
          ? [(item as { id: string }).id]
          : [],
      )
    : [];
}

/** Signs in the seeding account once, creates `products` products with ample stock and one order. */
export function seed(products: number): Seed {
  const baseUrl = targetUrl();
  const id = runId();
  const account = seedAccount(baseUrl, id);
  const addressBase = Math.floor(Math.random() * ADDRESS_SPACE);
  const signedIn = expectStatus(
    login({ baseUrl, ...account }, clientAddress({ addressBase }, ADDRESS_SPACE - 1)),
    200,
    'POST /api/v1/auth/login',
    account.given ? ` (SEED_EMAIL=${account.email})` : '',
  );
  const token = signedIn.access_token;
  if (typeof token !== 'string') fail('POST /api/v1/auth/login answered 200 without an access_token');
  const session = { baseUrl, token };
  const existing = account.given ? [] : catalogProducts(session, products);
  const productIds =
    existing.length > 0
      ? existing
      : Array.from({ length: products }, (_, i) => createProduct(session, `${id}-${i}`, true));
  const seeded: Seed = {
    ...session,
    email: account.email,
    password: account.password,
    productIds,
    orderId: '',
    addressBase,
    signedInAt: Date.now(),
  };
  return { ...seeded, orderId: createOrder(seeded, true) };
}

/** Renew well before the app's 15-minute access token expires. */
const SESSION_RENEW_MS = 10 * 60 * 1000;
// Each VU has its own copy of this module: a VU that outlives the setup token signs in for itself.
let renewed: { token: string; at: number; count: number } | undefined;

/**
 * The access token to send: setup's while it is young, else this VU's own, from a sign-in at an address of the
 * run's block that no iteration uses (half the block away from {@link signIn}'s).
 */
export function accessToken(seeded: Seed): string {
  const now = Date.now();
  const current = renewed ?? { token: seeded.token, at: seeded.signedInAt, count: 0 };
  if (now - current.at < SESSION_RENEW_MS) return current.token;
  const address = clientAddress(seeded, ADDRESS_SPACE / 2 + exec.vu.idInTest * 64 + (current.count % 64));
  const response = login(seeded, address, { endpoint: 'renew-login' });
  const token = response.status === 200 ? json(response, 'POST /api/v1/auth/login').access_token : '';
  check(response, { 'session renewed (200)': () => typeof token === 'string' && token !== '' });
  // on failure keep the old token and retry on the next request; its 401s show in the checks
  renewed =
    typeof token === 'string' && token !== ''
      ? { token, at: now, count: current.count + 1 }
      : { ...current, count: current.count + 1 };
  return renewed.token;
}

function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) fail('setup seeded nothing to pick from');
  return item;
}

/** POST /api/v1/products; in setup a failure stops the run, under load it is a failed check. */
export function createProduct(seeded: Pick<Seed, 'baseUrl' | 'token'>, sku: string, required = false): string {
  const response = http.post(
    `${seeded.baseUrl}/api/v1/products`,
    JSON.stringify({ sku: `k6-${sku}`, name: `k6 product ${sku}`, price_cents: 1999, stock: 1_000_000 }),
    { headers: headers(seeded.token), tags: { endpoint: 'create-product' } },
  );
  if (required) {
    const hint =
      response.status === 403
        ? '; the seeding account may not create products: set SEED_EMAIL and SEED_PASSWORD to an account with role admin (load/README.md)'
        : '';
    return idOf(expectStatus(response, 201, 'POST /api/v1/products', hint), 'POST /api/v1/products');
  }
  check(response, { 'product created (201)': (r) => r.status === 201 });
  return response.status === 201 ? idOf(json(response, 'POST /api/v1/products'), 'POST /api/v1/products') : '';
}

/** POST /api/v1/orders of one unit of a seeded product. */
export function createOrder(seeded: Seed, required = false): string {
  const response = http.post(
    `${seeded.baseUrl}/api/v1/orders`,
    JSON.stringify({ items: [{ product_id: pick(seeded.productIds), quantity: 1 }] }),
    { headers: headers(required ? seeded.token : accessToken(seeded)), tags: { endpoint: 'create-order' } },
  );
  if (required) return idOf(expectStatus(response, 201, 'POST /api/v1/orders'), 'POST /api/v1/orders');
  check(response, { 'order created (201)': (r) => r.status === 201 });
  return response.status === 201 ? idOf(json(response, 'POST /api/v1/orders'), 'POST /api/v1/orders') : '';
}

/** A GET whose URL carries an id is tagged by its route, so the summary has one row per route, not per id. */
export function read(seeded: Seed, path: string, endpoint: string): void {
  const response = http.get(`${seeded.baseUrl}${path}`, {
    headers: { Authorization: `Bearer ${accessToken(seeded)}` },
    tags: { endpoint, name: endpoint },
  });
  check(response, { [`${endpoint} answered 200`]: (r) => r.status === 200 });
}

/** One request of the production-like mix: mostly catalog reads, some order reads, one order in ten. */
export function mixedRequest(seeded: Seed): void {
  const roll = Math.random();
  if (roll < 0.5) read(seeded, '/api/v1/products?limit=20', 'list-products');
  else if (roll < 0.7) read(seeded, `/api/v1/products/${pick(seeded.productIds)}`, 'get-product');
  else if (roll < 0.85) read(seeded, `/api/v1/orders/${seeded.orderId}`, 'get-order');
  else if (roll < 0.9) read(seeded, '/api/v1/orders?limit=20', 'list-orders');
  else createOrder(seeded);
}

/** One sign-in of the seeded account from a client address no other iteration of this run uses. */
export function signIn(seeded: Seed): void {
  const response = login(seeded, clientAddress(seeded, exec.scenario.iterationInTest));
  check(response, { 'login answered 200': (r) => r.status === 200 });
}

/** Settings of an open-model scenario, each overridable by `<PREFIX>_<NAME>` in the environment. */
export interface ArrivalRateDefaults {
  readonly rate: number;
  readonly duration: string;
}

/**
 * A constant-arrival-rate scenario of `<PREFIX>_RATE` iterations per second for `<PREFIX>_DURATION`, with VUs
 * preallocated for one second of arrivals at 10 ms each and room to grow (`<PREFIX>_MAX_VUS`).
 */
export function arrivalRate(prefix: string, defaults: ArrivalRateDefaults, exec?: string): ConstantArrivalRateScenario {
  const rate = wholeNumber(`${prefix}_RATE`, defaults.rate);
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- @types/k6 types scenarios as an abstract class; k6 reads plain objects
  const scenario: ConstantArrivalRateScenario = {
    executor: 'constant-arrival-rate',
    rate,
    timeUnit: '1s',
    duration: duration(`${prefix}_DURATION`, defaults.duration),
    preAllocatedVUs: wholeNumber(`${prefix}_PREALLOCATED_VUS`, Math.max(2, Math.ceil(rate / 10))),
    maxVUs: wholeNumber(`${prefix}_MAX_VUS`, Math.max(10, rate)),
    gracefulStop: '5s',
  };
  return exec === undefined ? scenario : Object.assign(scenario, { exec });
}

/**
 * Sign-ins at a bounded rate beside the mix (`LOGIN_RATE`, default 1/s): sign-in is deliberately slow (password
 * hashing) and limited, so real traffic holds few of them. Runs the scenario file's exported `signIn`.
 */
export function boundedLogins(duration: string): ConstantArrivalRateScenario {
  return arrivalRate('LOGIN', { rate: 1, duration }, 'signIn');
}

// ---------------------------------------------------------------------------------------------------------------
// Summary

interface MetricData {
  readonly values: Record<string, number | undefined>;
  readonly thresholds?: Record<string, { readonly ok: boolean }>;
}

/** The part of k6's handleSummary data read here. */
export interface SummaryData {
  readonly metrics: Record<string, MetricData | undefined>;
  readonly state: { readonly testRunDurationMs: number };
}

/** What the gate (load/src/gate.ts) and a reviewer read. */
export interface ScenarioSummary {
  readonly scenario: string;
  readonly targetUrl: string;
  readonly durationMs: number;
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** Fraction of requests k6 counted failed: 5xx and transport errors. */
  readonly errorRate: number;
  readonly droppedIterations: number;
  /** Per metric (with its tags), each threshold expression and whether it held. */
  readonly thresholds: Record<string, { readonly passed: boolean; readonly rules: Record<string, boolean> }>;
  /** What a scenario found beyond the numbers, e.g. stress's breaking point or spike's recovery time. */
  readonly findings?: Readonly<Record<string, unknown>>;
}

/** A scenario's own conclusion: the values for the JSON summary and one line for a person. */
export interface Findings {
  readonly values: Readonly<Record<string, unknown>>;
  readonly line: string;
}

/** One statistic of a metric, or of its submetric with tags, e.g. metricValue(data, 'http_req_duration{step:1}', 'p(99)'). */
export function metricValue(data: SummaryData, metric: string, stat: string): number | undefined {
  return data.metrics[metric]?.values[stat];
}

export function scenarioSummary(scenario: string, data: SummaryData): ScenarioSummary {
  const value = (metric: string, stat: string): number => data.metrics[metric]?.values[stat] ?? 0;
  const thresholds: Record<string, { passed: boolean; rules: Record<string, boolean> }> = {};
  for (const [metric, entry] of Object.entries(data.metrics)) {
    if (entry?.thresholds === undefined) continue;
    const rules: Record<string, boolean> = {};
    for (const [rule, result] of Object.entries(entry.thresholds)) rules[rule] = result.ok;
    thresholds[metric] = { passed: Object.values(rules).every(Boolean), rules };
  }
  return {
    scenario,
    targetUrl: __ENV.TARGET_URL ?? '',
    durationMs: data.state.testRunDurationMs,
    requests: value('http_reqs', 'count'),
    rps: value('http_reqs', 'rate'),
    p50Ms: value('http_req_duration', 'med'),
    p95Ms: value('http_req_duration', 'p(95)'),
    p99Ms: value('http_req_duration', 'p(99)'),
    errorRate: value('http_req_failed', 'rate'),
    droppedIterations: value('dropped_iterations', 'count'),
    thresholds,
  };
}

export function summaryMarkdown(summary: ScenarioSummary): string {
  const lines = [
    `### k6 \`${summary.scenario}\` against ${summary.targetUrl}`,
    '',
    '| requests | RPS | p50 ms | p95 ms | p99 ms | error rate | dropped iterations |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${summary.requests} | ${summary.rps.toFixed(1)} | ${summary.p50Ms.toFixed(2)} | ${summary.p95Ms.toFixed(2)} | ${summary.p99Ms.toFixed(2)} | ${(summary.errorRate * 100).toFixed(3)} % | ${summary.droppedIterations} |`,
    '',
    '| metric | threshold | result |',
    '| --- | --- | --- |',
  ];
  for (const [metric, { rules }] of Object.entries(summary.thresholds)) {
    for (const [rule, ok] of Object.entries(rules))
      lines.push(`| \`${metric}\` | \`${rule}\` | ${ok ? 'passed' : 'FAILED'} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** handleSummary of every scenario: JSON to SUMMARY_PATH, Markdown to SUMMARY_MARKDOWN_PATH, one line to stdout. */
export function summaryOutputs(scenario: string, data: SummaryData, findings?: Findings): Record<string, string> {
  const summary: ScenarioSummary = {
    ...scenarioSummary(scenario, data),
    ...(findings === undefined ? {} : { findings: findings.values }),
  };
  const failed = Object.entries(summary.thresholds)
    .filter(([, result]) => !result.passed)
    .map(([metric]) => metric);
  const outputs: Record<string, string> = {
    stdout: `${scenario}: ${summary.requests} requests, ${summary.rps.toFixed(1)} req/s, p99 ${summary.p99Ms.toFixed(2)} ms, ${(summary.errorRate * 100).toFixed(3)} % failed, ${summary.droppedIterations} dropped; thresholds ${failed.length === 0 ? 'passed' : `FAILED: ${failed.join(', ')}`}\n${findings === undefined ? '' : `${scenario}: ${findings.line}\n`}`,
  };
  if (__ENV.SUMMARY_PATH) outputs[__ENV.SUMMARY_PATH] = `${JSON.stringify(summary, null, 2)}\n`;
  if (__ENV.SUMMARY_MARKDOWN_PATH) outputs[__ENV.SUMMARY_MARKDOWN_PATH] = summaryMarkdown(summary);
  // k6's own summary data, as the benchmark reads it (load/src/bench/k6-summary.ts)
  if (__ENV.SUMMARY_RAW_PATH) outputs[__ENV.SUMMARY_RAW_PATH] = JSON.stringify(data);
  return outputs;
}

// ---------------------------------------------------------------------------------------------------------------
// Steady mixes (baseline, peak, soak)

export interface SteadyMixDefaults {
  /** The scenario's name, its tag and its summary's. */
  readonly scenario: string;
  /** Prefix of its variables: <PREFIX>_RATE, <PREFIX>_DURATION, <PREFIX>_PRODUCTS. */
  readonly prefix: string;
  readonly rate: number;
  readonly duration: string;
}

/** What a steady-mix script exports, each under the name k6 looks for. */
export interface SteadyMix {
  readonly options: Options;
  readonly setup: () => Seed;
  readonly run: (seeded: Seed) => void;
  readonly signIn: (seeded: Seed) => void;
  readonly handleSummary: (data: SummaryData) => Record<string, string>;
}

/**
 * The production-like mix at a constant arrival rate, plus sign-ins at LOGIN_RATE, judged by the SLO thresholds:
 * the body of baseline.ts, peak.ts and soak.ts, which differ only in name and defaults.
 */
export function steadyMix({ scenario, prefix, rate, duration: fallback }: SteadyMixDefaults): SteadyMix {
  const length = duration(`${prefix}_DURATION`, fallback);
  return {
    options: {
      scenarios: { [scenario]: arrivalRate(prefix, { rate, duration: length }), logins: boundedLogins(length) },
      thresholds: sloThresholds({ scenario }),
      summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
    },
    setup: () => seed(wholeNumber(`${prefix}_PRODUCTS`, 20)),
    run: mixedRequest,
    signIn,
    handleSummary: (data) => summaryOutputs(scenario, data),
  };
}
