import { expect } from 'vitest';

import { ConfigError, loadConfig } from '../../src/config.js';
import { TEST_SECRETS } from './app.js';

/** The required variables with harmless values; the secrets are random per run, so none sits in the repository. */
export const REQUIRED_ENV = Object.freeze({
  DATABASE_URL: 'postgres://erp:db-pass-123@db.internal:5432/erp',
  REDIS_URL: 'redis://:redis-pass-456@cache.internal:6379/0',
  JWT_SECRETS: TEST_SECRETS.JWT_SECRETS,
  PASSWORD_PEPPER: TEST_SECRETS.PASSWORD_PEPPER,
});

/** The problem lines loadConfig reports for env; fails the test when env is valid. */
export function problemsFor(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

/** Asserts that name=value alone is refused with one line naming it, its value, the rule and a fix. */
export function expectOneProblemLine(name: string, value: string, rule: string): void {
  const problems = problemsFor({ ...REQUIRED_ENV, [name]: value });
  expect(problems).toHaveLength(1);
  const [line] = problems;
  expect(line).toContain(`${name}=${JSON.stringify(value)} is invalid`);
  expect(line).toContain(rule);
  expect(line).toContain(`; set ${name}`);
}
