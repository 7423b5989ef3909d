import { createDatabase } from '../../src/db/pool.js';
import type { Database, DatabaseSettings } from '../../src/db/pool.js';
import { createLogger } from '../../src/logger.js';
import { CapturedLogs } from './logs.js';

export interface TestDb {
  readonly db: Database;
  readonly logs: CapturedLogs;
}

/** A Database on `url` with its log lines captured; close it with `db.end()`. */
export function testDb(url: string, settings: Partial<DatabaseSettings> = {}): TestDb {
  const logs = new CapturedLogs();
  const logger = createLogger({ logLevel: 'debug', appEnv: 'dev' }, logs);
  const db = createDatabase({ connectionString: url, slowQueryMs: 60_000, ...settings }, logger);
  return { db, logs };
}

let counter = 0;

/** A value no other test uses, for unique columns: `prefix-<pid>-<n>-<random>`. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Inserts a bare user row (no password, no roles) for tests that only need an owner id. */
export async function insertUser(db: Database, prefix: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    'test.createUser',
    "INSERT INTO users (email, username, password_hash) VALUES ($1, $1, 'x') RETURNING id",
    [`${unique(prefix)}@example.com`],
  );
  return (rows[0] as { id: string }).id;
}
