import { randomBytes } from 'node:crypto';

import { grantAdmin } from '@slipway/pipelines/platform/app-admin';

/** The account the scenarios sign in with (SEED_EMAIL, SEED_PASSWORD): registered, then granted admin to seed products. */
export interface SeedAccount {
  readonly email: string;
  readonly password: string;
}

async function call(url: string, init: RequestInit, expected: number): Promise<Record<string, unknown>> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== expected) {
    throw new Error(
      `${init.method ?? 'GET'} ${url} answered ${response.status} (expected ${expected}): ${text.slice(0, 300)}`,
    );
  }
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

const jsonHeaders = { 'Content-Type': 'application/json' };

/**
 * Registers a fresh account on the app at `appUrl` and grants it admin in the app's database, since a
 * self-registered account is a customer only and seeding needs products:create. Throwaway credentials.
 */
export async function registerSeedAccount(appUrl: string, databaseUrl: string): Promise<SeedAccount> {
  const id = randomBytes(6).toString('hex');
  const account = { email: `load-seed-${id}@example.com`, password: randomBytes(18).toString('base64url') };
  await call(
    `${appUrl}/api/v1/auth/register`,
    { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ ...account, username: `load-seed-${id}` }) },
    201,
  );
  await grantAdmin(databaseUrl, account.email);
  return account;
}

/**
 * Signs in and returns the access token. `clientAddress` goes in X-Forwarded-For, which the app reads only with
 * TRUST_PROXY set (the benchmark's setting): each sign-in from its own address stays clear of the per-IP limit.
 */
export async function signIn(appUrl: string, account: SeedAccount, clientAddress: string): Promise<string> {
  const body = await call(
    `${appUrl}/api/v1/auth/login`,
    {
      method: 'POST',
      headers: { ...jsonHeaders, 'X-Forwarded-For': clientAddress },
      body: JSON.stringify(account),
    },
    200,
  );
  if (typeof body.access_token !== 'string') {
    throw new Error(`POST ${appUrl}/api/v1/auth/login answered 200 without an access_token`);
  }
  return body.access_token;
}

/** Creates a product with ample stock for every order the benchmark places; returns its id. */
export async function createProduct(appUrl: string, token: string): Promise<string> {
  const sku = `bench-${randomBytes(6).toString('hex')}`;
  const body = await call(
    `${appUrl}/api/v1/products`,
    {
      method: 'POST',
      headers: { ...jsonHeaders, Authorization: `Bearer ${token}` },
      body: JSON.stringify({ sku, name: `bench product ${sku}`, price_cents: 1999, stock: 100_000_000 }),
    },
    201,
  );
  if (typeof body.id !== 'string') throw new Error(`POST ${appUrl}/api/v1/products answered 201 without an id`);
  return body.id;
}

/** A 10.0.0.0/8 address from a number, for X-Forwarded-For. */
export function clientAddress(n: number): string {
  const index = n % 2 ** 24;
  return `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}

/** Products the order rows spread over, so no single row lock serialises the orders. */
export const ORDER_PRODUCTS = 100;

/** What the benchmark reads: the seeding account, its product, and the app's cached answer for it. */
export interface SeededRead {
  readonly account: SeedAccount;
  readonly productId: string;
  /** {@link ORDER_PRODUCTS} products with ample stock for the order rows. */
  readonly orderProductIds: readonly string[];
  /** GET /api/v1/products/:id as the app answers it once cached; the bare server sends the same. */
  readonly response: { readonly contentType: string; readonly body: string };
}

/**
 * Registers and grants the seeding account, creates the order catalogue and one product to read, and reads that
 * twice, so the second answer is the cached one.
 */
export async function seedCachedRead(appUrl: string, databaseUrl: string): Promise<SeededRead> {
  const account = await registerSeedAccount(appUrl, databaseUrl);
  const token = await signIn(appUrl, account, clientAddress(2 ** 23));
  const productId = await createProduct(appUrl, token);
  const orderProductIds: string[] = [];
  for (let i = 0; i < ORDER_PRODUCTS; i++) orderProductIds.push(await createProduct(appUrl, token));
  let response = { contentType: '', body: '' };
  for (let read = 0; read < 2; read++) {
    const answer = await fetch(`${appUrl}/api/v1/products/${productId}`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    });
    const body = await answer.text();
    if (answer.status !== 200) {
      throw new Error(`GET ${appUrl}/api/v1/products/${productId} answered ${answer.status}: ${body.slice(0, 300)}`);
    }
    response = { contentType: answer.headers.get('content-type') ?? '', body };
  }
  return { account, productId, orderProductIds, response };
}
