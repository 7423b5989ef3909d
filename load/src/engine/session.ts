import { randomBytes } from 'node:crypto';

import { ADDRESS_SPACE, clientAddress, type Seed, type VirtualUser } from './model.js';
import type { Env } from './settings.js';

/** The target could not be seeded: no answer at all (unreachable), or an answer that stops the run. */
export class SeedError extends Error {
  override readonly name = 'SeedError';

  constructor(
    message: string,
    /** No answer at all: nothing listens, or the network does not reach it. */
    readonly unreachable: boolean,
  ) {
    super(message);
  }
}

const REQUEST_TIMEOUT_MS = 10_000;

async function call(
  method: string,
  url: string,
  options: { body?: unknown; token?: string; address?: string } = {},
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  if (options.address !== undefined) headers['X-Forwarded-For'] = options.address;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new SeedError(
      `${method} ${url} got no answer (${error instanceof Error ? error.message : String(error)}${cause})`,
      true,
    );
  }
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    // not JSON: the status and text say enough
  }
  return { status: response.status, json, text };
}

async function expectStatus(
  what: string,
  answer: Promise<{ status: number; json: Record<string, unknown>; text: string }>,
  status: number,
  hint = '',
): Promise<Record<string, unknown>> {
  const got = await answer;
  if (got.status !== status) {
    throw new SeedError(`${what} answered ${got.status} (expected ${status}): ${got.text.slice(0, 300)}${hint}`, false);
  }
  return got.json;
}

function idOf(body: Record<string, unknown>, what: string): string {
  if (typeof body.id !== 'string')
    throw new SeedError(`${what} answered without an id: ${JSON.stringify(body).slice(0, 200)}`, false);
  return body.id;
}

/** Signs in with the seed's credentials from `address`; the access token. */
export async function signIn(seed: Pick<Seed, 'baseUrl' | 'email' | 'password'>, address: string): Promise<string> {
  const body = await expectStatus(
    'POST /api/v1/auth/login',
    call('POST', `${seed.baseUrl}/api/v1/auth/login`, {
      body: { email: seed.email, password: seed.password },
      address,
    }),
    200,
  );
  if (typeof body.access_token !== 'string')
    throw new SeedError('POST /api/v1/auth/login answered 200 without an access_token', false);
  return body.access_token;
}

/**
 * Products already in the catalog, for an account that may read but not create them (a production canary); empty
 * when the catalog is, or when the account may create its own.
 */
async function catalogProducts(baseUrl: string, token: string, count: number): Promise<string[]> {
  const list = await call('GET', `${baseUrl}/api/v1/products?limit=${Math.min(count, 100)}`, { token });
  const probe = await call('POST', `${baseUrl}/api/v1/products`, { body: {}, token });
  // 400 (the empty body) means this account may create products: seed its own
  if (probe.status !== 403 || list.status !== 200) return [];
  const items = list.json.items;
  return Array.isArray(items)
    ? items.flatMap((item: unknown) =>
        typeof item === 'object' && item !== null && typeof (item as { id?: unknown }).id === 'string'
          ? [(item as { id: string }).id]
          : [],
      )
    : [];
}

/** A name no other run uses: emails, usernames and SKUs are unique in the database. */
function runId(): string {
  return randomBytes(6).toString('hex');
}

export interface Seeded {
  readonly seed: Seed;
  /** The seeding sign-in's token: the first virtual user reuses it. */
  readonly token: string;
}

/**
 * Seeds the target: signs in SEED_EMAIL / SEED_PASSWORD (an account granted admin, which creating products needs) or
 * registers a fresh account, then creates `products` products with ample stock (or reads the catalog when the
 * account may not create any) and one order.
 */
export async function seedTarget(baseUrl: string, env: Env, products: number): Promise<Seeded> {
  const id = runId();
  const given =
    env.SEED_EMAIL !== undefined &&
    env.SEED_EMAIL !== '' &&
    env.SEED_PASSWORD !== undefined &&
    env.SEED_PASSWORD !== '';
  if (!given && ((env.SEED_EMAIL ?? '') !== '' || (env.SEED_PASSWORD ?? '') !== '')) {
    throw new SeedError('set both SEED_EMAIL and SEED_PASSWORD (an account with role admin), or neither', false);
  }
  const account = given
    ? { email: env.SEED_EMAIL ?? '', password: env.SEED_PASSWORD ?? '' }
    : { email: `load-${id}@example.com`, password: `load-password-${id}` };
  if (!given) {
    await expectStatus(
      `POST ${baseUrl}/api/v1/auth/register`,
      call('POST', `${baseUrl}/api/v1/auth/register`, { body: { ...account, username: `load-${id}` } }),
      201,
    );
  }
  const addressBase = Math.floor(Math.random() * ADDRESS_SPACE);
  const token = await signIn({ baseUrl, ...account }, clientAddress(addressBase, ADDRESS_SPACE - 1)).catch(
    (error: unknown) => {
      if (error instanceof SeedError && given)
        throw new SeedError(`${error.message} (SEED_EMAIL=${account.email})`, error.unreachable);
      throw error;
    },
  );
  const existing = given ? [] : await catalogProducts(baseUrl, token, products);
  const productIds = [...existing];
  for (let i = 0; existing.length === 0 && i < products; i++) {
    const body = await expectStatus(
      'POST /api/v1/products',
      call('POST', `${baseUrl}/api/v1/products`, {
        token,
        body: { sku: `load-${id}-${i}`, name: `load product ${id}-${i}`, price_cents: 1999, stock: 100_000_000 },
      }),
      201,
      '; the seeding account may not create products: set SEED_EMAIL and SEED_PASSWORD to an account with role admin (load/README.md)',
    );
    productIds.push(idOf(body, 'POST /api/v1/products'));
  }
  const order = await expectStatus(
    'POST /api/v1/orders',
    call('POST', `${baseUrl}/api/v1/orders`, { token, body: { items: [{ product_id: productIds[0], quantity: 1 }] } }),
    201,
  );
  return { seed: { baseUrl, ...account, productIds, orderId: idOf(order, 'POST /api/v1/orders'), addressBase }, token };
}

/** Renew well before the app's 15-minute access token expires. */
export const SESSION_RENEW_MS = 10 * 60 * 1000;
/** Sign-ins at once while signing users in: the app hashes passwords, which is slow on purpose. */
const SIGN_IN_CONCURRENCY = 8;

/**
 * Signs each virtual user in once, each from its own address of the run's block (X-Forwarded-For, read by the app
 * only with TRUST_PROXY set); the first user reuses the seeding sign-in.
 */
export async function signInUsers(seeded: Seeded, count: number): Promise<VirtualUser[]> {
  const now = Date.now();
  const users: VirtualUser[] = [
    {
      index: 0,
      address: clientAddress(seeded.seed.addressBase, ADDRESS_SPACE - 1),
      token: seeded.token,
      signedInAt: now,
    },
  ];
  const pending = Array.from({ length: count - 1 }, (_, i) => i + 1);
  const worker = async (): Promise<void> => {
    for (let index = pending.shift(); index !== undefined; index = pending.shift()) {
      const address = clientAddress(seeded.seed.addressBase, ADDRESS_SPACE / 2 + index);
      users.push({ index, address, token: await signIn(seeded.seed, address), signedInAt: Date.now() });
    }
  };
  await Promise.all(Array.from({ length: Math.min(SIGN_IN_CONCURRENCY, count - 1) }, worker));
  return users.sort((a, b) => a.index - b.index);
}

/**
 * Keeps a user's token young: once it is {@link SESSION_RENEW_MS} old, signs in again in the background from the
 * user's own address; requests keep the old token until the new one arrives.
 */
export function renewIfOld(seed: Seed, user: VirtualUser, renewing: Set<number>, now: number): void {
  if (now - user.signedInAt < SESSION_RENEW_MS || renewing.has(user.index)) return;
  renewing.add(user.index);
  signIn(seed, user.address)
    .then((token) => {
      user.token = token;
      user.signedInAt = Date.now();
    })
    .catch(() => {
      // keep the old token and try again in a minute; its 401s show as failed checks
      user.signedInAt += 60_000;
    })
    .finally(() => renewing.delete(user.index));
}
