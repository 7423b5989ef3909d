import { randomInt } from 'node:crypto';

import { createAuthComponent } from '../../src/components/auth/index.js';
import { grantRole } from '../../src/components/auth/repository.js';
import type { Queryable } from '../../src/db/pool.js';
import { startTestApp } from './app.js';
import type { TestApp } from './app.js';
import { unique } from './db.js';

/** A test app with the auth component mounted; TRUST_PROXY=1 lets each test pick its client IP. */
export function startAuthApp(env: NodeJS.ProcessEnv = {}): Promise<TestApp> {
  return startTestApp({
    env: { TRUST_PROXY: '1', ...env },
    routers: (deps) => [createAuthComponent(deps).router],
  });
}

/** A client IP no other test uses, so per-IP sign-in limits do not meet across tests. */
export function clientIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

export interface CallOptions {
  readonly body?: unknown;
  readonly token?: string;
  readonly ip?: string;
  /** More request headers, e.g. X-Request-Id or User-Agent. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** One JSON request to a test app. */
export async function call(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'X-Forwarded-For': options.ip ?? clientIp(), ...options.headers };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

export interface Account {
  readonly id: string;
  readonly email: string;
  readonly username: string;
  readonly password: string;
}

/** Registers a fresh account through the API. */
export async function registerAccount(baseUrl: string): Promise<Account> {
  const username = unique('user')
    .replace(/[^A-Za-z0-9._-]/g, '')
    .slice(0, 60);
  const email = `${username}@example.com`;
  const password = `pw-${unique('secret')}-long`;
  const reply = await call(baseUrl, 'POST', '/api/v1/auth/register', { body: { email, username, password } });
  if (reply.status !== 201) throw new Error(`register answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  const user = reply.body.user as { id: string };
  return { id: user.id, email, username, password };
}

export interface Tokens {
  readonly accessToken: string;
  readonly refreshToken: string;
}

export async function signIn(baseUrl: string, account: Account, ip = clientIp()): Promise<Tokens> {
  const reply = await call(baseUrl, 'POST', '/api/v1/auth/login', {
    body: { email: account.email, password: account.password },
    ip,
  });
  if (reply.status !== 200) throw new Error(`login answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  // The wire is snake_case (OAuth 2 style); tests keep the camelCase names.
  const { access_token: accessToken, refresh_token: refreshToken } = reply.body;
  if (typeof accessToken !== 'string' || typeof refreshToken !== 'string') {
    throw new Error(`login answered 200 without access_token and refresh_token: ${JSON.stringify(reply.body)}`);
  }
  return { accessToken, refreshToken };
}

/**
 * Gives an account one of the seeded roles straight in the database, as `npm run admin -- grant-role` would, for
 * tests that need staff (product writes need a manager or admin). Call it before the account's first request:
 * it does not drop permissions the service has already cached.
 */
export async function grantAccountRole(
  db: Queryable,
  userId: string,
  role: 'admin' | 'manager' | 'customer',
): Promise<void> {
  if (!(await grantRole(db, userId, role))) throw new Error(`role ${role} is missing: is the database migrated?`);
}
