import { randomBytes } from 'node:crypto';

import { Client, escapeIdentifier } from 'pg';

import { migrate } from '../../src/db/migrations.js';
import type { MigrateOptions } from '../../src/db/migrations.js';
import { testServices } from './services.js';

export interface TestDatabase {
  readonly name: string;
  /** Superuser connection URL to this database. */
  readonly url: string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

/** Runs work on a superuser connection to the maintenance database (create/drop databases and roles). */
export async function asAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: testServices().postgres.adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** `url` with its database swapped for `name`. */
export function databaseUrl(name: string): string {
  const url = new URL(testServices().postgres.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh, empty database with a random name, for one test file; drop it in afterAll. */
export async function createTestDatabase(prefix = 'erp_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await asAdmin((client) => client.query(`CREATE DATABASE ${escapeIdentifier(name)}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      asAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

/** A fresh database with every migration of app/migrations applied. */
export async function createMigratedDatabase(options: MigrateOptions = {}): Promise<TestDatabase> {
  const database = await createTestDatabase();
  try {
    await migrate(database.url, options);
  } catch (error) {
    await database.drop();
    throw error;
  }
  return database;
}

let sharedMigration: Promise<unknown> | undefined;

/**
 * Brings the shared `slipway_test` database up to date, once per worker; the advisory lock lets parallel test
 * files call it at the same time.
 */
export function migrateSharedDatabase(): Promise<unknown> {
  sharedMigration ??= migrate(testServices().postgres.url);
  return sharedMigration;
}
