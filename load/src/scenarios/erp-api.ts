/**
 * What every erp-api scenario shares: the SLO thresholds, the seeded account and products, the requests of the
 * realistic mix, and the summary files. Runs inside k6 (imported by the scenarios as ./erp-api.ts).
 */
import { check, fail } from 'k6';
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import type { Threshold } from 'k6/options';

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

/** What setup() hands every iteration: one signed-in account, shared (sign-in is limited to 5 per IP per 15 min). */
export interface Seed {
  readonly baseUrl: string;
  readonly token: string;
  readonly productIds: readonly string[];
  readonly orderId: string;
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

function expectStatus(response: Response, status: number, what: string): Record<string, unknown> {
  if (response.status !== status) {
    fail(
      `${what} answered ${response.status} (expected ${status}): ${bodyText(response).slice(0, 300)}${response.error ? ` ${response.error}` : ''}`,
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

/** Registers a fresh account, signs in once, creates `products` products with ample stock and one order. */
export function seed(products: number): Seed {
  const baseUrl = targetUrl();
  const id = runId();
  const username = `k6-${id}`;
  const email = `${username}@example.com`;
  const password = `k6-password-${id}`;
  const jsonHeaders = { 'Content-Type': 'application/json' };
  expectStatus(
    http.post(`${baseUrl}/api/v1/auth/register`, JSON.stringify({ email, username, password }), {
      headers: jsonHeaders,
      tags: { endpoint: 'register' },
    }),
    201,
    `POST ${baseUrl}/api/v1/auth/register`,
  );
  const login = expectStatus(
    http.post(`${baseUrl}/api/v1/auth/login`, JSON.stringify({ email, password }), {
      headers: jsonHeaders,
      tags: { endpoint: 'login' },
    }),
    200,
    'POST /api/v1/auth/login',
  );
  const token = login.accessToken;
  if (typeof token !== 'string') fail('POST /api/v1/auth/login answered 200 without an accessToken');
  const productIds: string[] = [];
  for (let i = 0; i < products; i++) {
    productIds.push(createProduct({ baseUrl, token: token }, `${id}-${i}`, true));
  }
  const seeded = { baseUrl, token: token, productIds, orderId: '' };
  return { ...seeded, orderId: createOrder(seeded, true) };
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
  if (required) return idOf(expectStatus(response, 201, 'POST /api/v1/products'), 'POST /api/v1/products');
  check(response, { 'product created (201)': (r) => r.status === 201 });
  return response.status === 201 ? idOf(json(response, 'POST /api/v1/products'), 'POST /api/v1/products') : '';
}

/** POST /api/v1/orders of one unit of a seeded product. */
export function createOrder(seeded: Seed, required = false): string {
  const response = http.post(
    `${seeded.baseUrl}/api/v1/orders`,
    JSON.stringify({ items: [{ product_id: pick(seeded.productIds), quantity: 1 }] }),
    { headers: headers(seeded.token), tags: { endpoint: 'create-order' } },
  );
  if (required) return idOf(expectStatus(response, 201, 'POST /api/v1/orders'), 'POST /api/v1/orders');
  check(response, { 'order created (201)': (r) => r.status === 201 });
  return response.status === 201 ? idOf(json(response, 'POST /api/v1/orders'), 'POST /api/v1/orders') : '';
}

/** A GET whose URL carries an id is tagged by its route, so the summary has one row per route, not per id. */
export function read(seeded: Seed, path: string, endpoint: string): void {
  const response = http.get(`${seeded.baseUrl}${path}`, {
    headers: { Authorization: `Bearer ${seeded.token}` },
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
export function summaryOutputs(scenario: string, data: SummaryData): Record<string, string> {
  const summary = scenarioSummary(scenario, data);
  const failed = Object.entries(summary.thresholds)
    .filter(([, result]) => !result.passed)
    .map(([metric]) => metric);
  const outputs: Record<string, string> = {
    stdout: `${scenario}: ${summary.requests} requests, ${summary.rps.toFixed(1)} req/s, p99 ${summary.p99Ms.toFixed(2)} ms, ${(summary.errorRate * 100).toFixed(3)} % failed, ${summary.droppedIterations} dropped; thresholds ${failed.length === 0 ? 'passed' : `FAILED: ${failed.join(', ')}`}\n`,
  };
  if (__ENV.SUMMARY_PATH) outputs[__ENV.SUMMARY_PATH] = `${JSON.stringify(summary, null, 2)}\n`;
  if (__ENV.SUMMARY_MARKDOWN_PATH) outputs[__ENV.SUMMARY_MARKDOWN_PATH] = summaryMarkdown(summary);
  return outputs;
}
