import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { MIGRATIONS_DIR } from '../src/db/migrations.js';
import { breakingStatements, destructiveStatements, scrubSql, sqlStatements } from '../src/db/sql-scan.js';

describe('scrubSql', () => {
  it('removes comments and blanks literals, quoted identifiers and dollar-quoted bodies', () => {
    const sql = `SELECT 'it''s; DROP TABLE x' AS a, E'\\'; TRUNCATE y' AS b, "DROP" FROM t -- DROP TABLE t
      /* DELETE FROM t; /* nested */ still comment */ WHERE $1 = $tag$ DELETE FROM t; $tag$ AND $$x$$ = a$b`;
    const scrubbed = scrubSql(sql);
    expect(scrubbed).not.toMatch(/DROP TABLE|TRUNCATE|DELETE/);
    expect(scrubbed.replace(/\s+/g, ' ')).toBe(
      "SELECT '' AS a, E'' AS b, \"\" FROM t WHERE $1 = $$ $$ AND $$ $$ = a$b",
    );
  });

  it('splits statements on semicolons outside literals', () => {
    expect(sqlStatements("INSERT INTO t VALUES ('a;b'); ; UPDATE t SET a = 1;\n")).toEqual([
      "INSERT INTO t VALUES ('')",
      'UPDATE t SET a = 1',
    ]);
  });
});

describe('destructiveStatements', () => {
  it.each([
    'DROP TABLE users',
    'drop index if exists users_email_key',
    'DROP SCHEMA public CASCADE',
    'TRUNCATE audit_logs',
    'DELETE FROM users',
    'delete from users returning id',
    'WITH gone AS (SELECT id FROM users) DELETE FROM orders',
    'ALTER TABLE users DROP COLUMN email',
    'ALTER TABLE users DROP email',
    'ALTER TABLE IF EXISTS ONLY public.users ADD COLUMN a int, DROP COLUMN IF EXISTS b',
  ])('flags %j', (statement) => {
    expect(destructiveStatements(`${statement};`)).toHaveLength(1);
  });

  it.each([
    'CREATE TABLE t (id int)',
    'DELETE FROM sessions WHERE expires_at < now()',
    'WITH old AS (SELECT 1) DELETE FROM t WHERE id IN (SELECT * FROM old)',
    'ALTER TABLE users DROP CONSTRAINT users_email_check',
    'ALTER TABLE users ALTER COLUMN email DROP NOT NULL',
    'ALTER TABLE users ALTER COLUMN email DROP DEFAULT',
    "INSERT INTO notes (body) VALUES ('DROP TABLE users; TRUNCATE x; DELETE FROM y')",
    '-- DROP TABLE users\nSELECT 1',
    '/* TRUNCATE users; */ SELECT 1',
    'CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DELETE FROM t $$',
    'CREATE TRIGGER no_delete BEFORE UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION f()',
    'CREATE TRIGGER no_truncate BEFORE TRUNCATE ON t FOR EACH STATEMENT EXECUTE FUNCTION f()',
    'SELECT "DROP" FROM t',
  ])('does not flag %j', (statement) => {
    expect(destructiveStatements(statement)).toEqual([]);
  });

  it("finds nothing destructive in the service's own migrations", () => {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the migrations directory
    for (const file of readdirSync(MIGRATIONS_DIR)) {
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- a file of the migrations directory
      expect(destructiveStatements(readFileSync(join(MIGRATIONS_DIR, file), 'utf8')), file).toEqual([]);
    }
  });
});

describe('breakingStatements', () => {
  it.each([
    ['DROP TABLE users', /drops or deletes data/],
    ['ALTER TABLE users DROP COLUMN email', /drops or deletes data/],
    ['ALTER TABLE users RENAME COLUMN email TO mail', /renames a table or column/],
    ['ALTER TABLE users RENAME TO accounts', /renames a table or column/],
    ['ALTER TABLE IF EXISTS users RENAME email TO mail', /renames a table or column/],
    ['ALTER VIEW active_users RENAME TO people', /renames an object/],
    ['ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)', /changes a column's type/],
    ['ALTER TABLE orders ALTER total SET DATA TYPE bigint', /changes a column's type/],
    ['ALTER TABLE users ALTER COLUMN email SET NOT NULL', /makes a column NOT NULL/],
    ['ALTER TABLE users ADD COLUMN tenant int NOT NULL', /NOT NULL column without a default/],
    ['ALTER TABLE users ADD CONSTRAINT c CHECK (a IN (1, 2)), ADD tenant text NOT NULL', /NOT NULL column/],
  ])('flags %j', (statement, reason) => {
    const found = breakingStatements(`${statement};`);
    expect(found).toHaveLength(1);
    expect(found[0]?.reason).toMatch(reason);
  });

  it.each([
    'CREATE TABLE t (id int NOT NULL)',
    'ALTER TABLE users ADD COLUMN tenant int',
    'ALTER TABLE users ADD COLUMN tenant int NOT NULL DEFAULT 1',
    'ALTER TABLE users ADD COLUMN total int GENERATED ALWAYS AS (a + b) STORED NOT NULL',
    'ALTER TABLE users ALTER COLUMN email DROP NOT NULL',
    'ALTER TABLE users ALTER COLUMN email SET DEFAULT 1',
    'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)',
    'CREATE INDEX CONCURRENTLY users_tenant ON users (tenant)',
    "INSERT INTO notes (body) VALUES ('ALTER TABLE x RENAME TO y')",
  ])('does not flag %j', (statement) => {
    expect(breakingStatements(statement)).toEqual([]);
  });
});
