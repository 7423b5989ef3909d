/**
 * A rough SQL scanner for migration files: enough to split statements and spot destructive ones without
 * being fooled by comments, string literals, quoted identifiers or dollar-quoted function bodies.
 */

const IDENTIFIER_CHAR = /[A-Za-z0-9_$]/;
const DOLLAR_TAG = /^\$[A-Za-z0-9_]*\$/;

function isIdentifierChar(char: string | undefined): boolean {
  return char !== undefined && IDENTIFIER_CHAR.test(char);
}

/** Index just past a quoted run that starts at `start` (on the quote) and doubles the quote to escape it. */
function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const char = sql[i];
    if (backslashEscapes && char === '\\') {
      i += 2;
      continue;
    }
    if (char === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i += 1;
  }
  return sql.length;
}

function skipBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth += 1;
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  return sql.length;
}

/**
 * The SQL with comments removed and the contents of literals, quoted identifiers and dollar-quoted bodies
 * blanked (`''`, `""`, `$$ $$`), so keywords found in what is left are real keywords.
 */
export function scrubSql(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const char = sql.charAt(i);
    if (sql.startsWith('--', i)) {
      const newline = sql.indexOf('\n', i);
      i = newline === -1 ? sql.length : newline;
      out += ' ';
    } else if (sql.startsWith('/*', i)) {
      i = skipBlockComment(sql, i);
      out += ' ';
    } else if (char === "'") {
      // E'…' strings take backslash escapes; the E is already in `out`.
      const escaped = /[eE]/.test(sql.charAt(i - 1)) && !isIdentifierChar(sql[i - 2]);
      i = skipQuoted(sql, i, "'", escaped);
      out += "''";
    } else if (char === '"') {
      i = skipQuoted(sql, i, '"', false);
      out += '""';
    } else if (char === '$' && !isIdentifierChar(sql[i - 1])) {
      const candidate = DOLLAR_TAG.exec(sql.slice(i, i + 66))?.[0];
      // A tag cannot start with a digit: `$1` is a parameter.
      const tag = candidate !== undefined && !/^\$\d/.test(candidate) ? candidate : undefined;
      if (tag === undefined) {
        out += char;
        i += 1;
      } else {
        const end = sql.indexOf(tag, i + tag.length);
        i = end === -1 ? sql.length : end + tag.length;
        out += ' $$ $$ ';
      }
    } else {
      out += char;
      i += 1;
    }
  }
  return out;
}

/** The statements of a script, scrubbed (see {@link scrubSql}), whitespace collapsed, empty ones dropped. */
export function sqlStatements(sql: string): string[] {
  return scrubSql(sql)
    .split(';')
    .map((statement) => statement.replace(/\s+/g, ' ').trim())
    .filter((statement) => statement !== '');
}

/** `ALTER TABLE t DROP [COLUMN] c` loses data; dropping a constraint, default or NOT NULL does not. */
function dropsColumn(statement: string): boolean {
  const words = statement.split(' ');
  if (words[0]?.toUpperCase() !== 'ALTER' || words[1]?.toUpperCase() !== 'TABLE') return false;
  let at = 2;
  while (['IF', 'EXISTS', 'ONLY'].includes(words[at]?.toUpperCase() ?? '')) at += 1;
  // words[at] is the table name; the actions follow, comma-separated.
  const actions = words
    .slice(at + 1)
    .join(' ')
    .split(',')
    .map((action) => action.trim());
  return actions.some((action) => /^DROP (?!CONSTRAINT\b)/i.test(action));
}

function deletesEverything(statement: string): boolean {
  if (!/^(?:DELETE|WITH)\b/i.test(statement)) return false;
  const deleteAt = statement.search(/\bDELETE FROM\b/i);
  return deleteAt !== -1 && !/\bWHERE\b/i.test(statement.slice(deleteAt));
}

/** Statements of `sql` that destroy data: DROP …, ALTER TABLE … DROP COLUMN, TRUNCATE, DELETE without WHERE. */
export function destructiveStatements(sql: string): string[] {
  return sqlStatements(sql).filter(
    (statement) =>
      /^DROP\b/i.test(statement) ||
      /^TRUNCATE\b/i.test(statement) ||
      dropsColumn(statement) ||
      deletesEverything(statement),
  );
}

/** A statement a migration holds that the version before it cannot run against, and why. */
export interface BreakingStatement {
  readonly statement: string;
  readonly reason: string;
}

/** The comma-separated actions of an `ALTER TABLE`, split outside parentheses (a CHECK or DEFAULT may hold commas). */
function alterTableActions(statement: string): string[] | undefined {
  const match = /^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?\S+ (.*)$/i.exec(statement);
  if (match === null) return undefined;
  const actions: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of match[1] ?? '') {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      actions.push(current.trim());
      current = '';
    } else current += char;
  }
  actions.push(current.trim());
  return actions;
}

/** Why one `ALTER TABLE` action breaks the version before it, or undefined when that version keeps working. */
function breakingAction(action: string): string | undefined {
  if (/^RENAME\b/i.test(action)) return 'renames a table or column the running version still queries by its old name';
  if (/^ALTER (?:COLUMN )?\S+ (?:SET DATA )?TYPE\b/i.test(action))
    return "changes a column's type under the running version (and rewrites the table under a lock)";
  if (/^ALTER (?:COLUMN )?\S+ SET NOT NULL\b/i.test(action))
    return "makes a column NOT NULL that the running version's inserts may leave empty";
  if (/^ADD (?:COLUMN )?(?!CONSTRAINT\b|PRIMARY\b|UNIQUE\b|CHECK\b|FOREIGN\b|EXCLUDE\b)/i.test(action)) {
    const notNull = /\bNOT NULL\b/i.test(action);
    const defaulted = /\bDEFAULT\b|\bGENERATED\b/i.test(action);
    if (notNull && !defaulted) return "adds a NOT NULL column without a default: the running version's inserts fail";
  }
  return undefined;
}

/**
 * Statements that break the version still running while a canary shares its database: the destructive ones
 * ({@link destructiveStatements}), renames, type changes, and NOT NULL columns or constraints without a default.
 * Such a change ships in two releases (expand, then contract once no running version needs the old shape).
 */
export function breakingStatements(sql: string): BreakingStatement[] {
  const destructive = new Set(destructiveStatements(sql));
  const found: BreakingStatement[] = [];
  for (const statement of sqlStatements(sql)) {
    if (destructive.has(statement)) {
      found.push({ statement, reason: 'drops or deletes data the running version reads' });
      continue;
    }
    if (/^ALTER (?:VIEW|MATERIALIZED VIEW|SEQUENCE|TYPE|FUNCTION|SCHEMA|INDEX) .* RENAME\b/i.test(statement)) {
      found.push({ statement, reason: 'renames an object the running version still uses by its old name' });
      continue;
    }
    const reason = alterTableActions(statement)
      ?.map(breakingAction)
      .find((why) => why !== undefined);
    if (reason !== undefined) found.push({ statement, reason });
  }
  return found;
}
