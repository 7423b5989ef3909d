import { randomBytes } from 'node:crypto';

import { Client } from 'pg';

import { AUDIT_CHAIN_LOCK_KEY, auditRowHash } from '../components/audit/chain.js';
import type { AuditRowContent } from '../components/audit/chain.js';
import { AUDIT_EVENT } from '../components/audit/events.js';
import { loadDatabaseUrl } from '../config.js';
import { parseCommandLine, parseFlags, readCliConfig, runWhenEntryPoint, UsageError } from './cli.js';
import type { CliIo } from './cli.js';

/** sysexits.h codes, as the other command-line tools use them. */
export const EXIT = { ok: 0, usage: 64, unavailable: 69, config: 78 } as const;

export const USAGE = `usage: npm run seed -w app -- --size <size> [options]

Fills a migrated database with realistic volume for backup, restore and drill measurements: users, products,
orders with 1 to 5 lines each, and audit rows appended to the hash chain (so \`audit verify\` still passes). It
inserts set-based (generate_series), in rounds, until the database reaches the size, and shows progress.

options:
  --size <size>          the database size to reach, e.g. 50MB, 1GB, 1.5GB (units kB, MB, GB; powers of 1024)
  --orders-per-round <n> orders inserted per round (default 20000); smaller rounds stop closer to --size
  -h, --help             show this help

environment:
  DATABASE_URL           the database to fill (required; the owner's role: it inserts into audit_logs and users)

exit codes: 0 done, 64 usage error, 69 database unreachable or an insert failed, 78 DATABASE_URL invalid`;

const UNITS: Record<string, number> = { kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
/** The largest size accepted: a slip of the finger (10000GB) must not fill the disk. */
const MAX_BYTES = 64 * 1024 ** 3;
const PRODUCTS = 2000;
const USERS_PER_ROUND = 1000;
/** One audit row per this many orders, the ratio of sign-ins and admin changes to orders in the service. */
const ORDERS_PER_AUDIT_ROW = 2;
const AUDIT_INSERT_BATCH = 5000;
const PROGRESS_EVERY_MS = 2000;
/** Fixed, not an argon2 hash: seeded users cannot sign in. */
const NO_LOGIN_HASH = 'seed:no-login';

/** `1GB`, `50MB`, `1.5 GB` as bytes; throws {@link UsageError} naming the value otherwise. */
export function parseSize(text: string): number {
  const trimmed = text.trim().toLowerCase();
  const unit = UNITS[trimmed.slice(-2)];
  const amount = trimmed.slice(0, -2).trim();
  if (unit === undefined || !/^[\d.]{1,12}$/.test(amount) || !Number.isFinite(Number(amount))) {
    throw new UsageError(`--size ${JSON.stringify(text)} is not a size; give a number and kB, MB or GB, e.g. 1GB`);
  }
  const bytes = Math.round(Number(amount) * unit);
  if (bytes <= 0 || bytes > MAX_BYTES) {
    throw new UsageError(`--size ${JSON.stringify(text)} is out of range; give more than 0 and at most 64GB`);
  }
  return bytes;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

interface Invocation {
  readonly targetBytes: number;
  readonly ordersPerRound: number;
}

function parseInvocation(argv: readonly string[]): Invocation | 'help' {
  const flags = parseFlags(argv, {
    help: { type: 'boolean', short: 'h' },
    size: { type: 'string' },
    'orders-per-round': { type: 'string' },
  });
  if (flags.help === true) return 'help';
  if (flags.size === undefined) throw new UsageError('--size is required, e.g. --size 1GB');
  const perRound = flags['orders-per-round'] ?? '20000';
  if (!/^\d{1,7}$/.test(perRound) || Number(perRound) < 10) {
    throw new UsageError(`--orders-per-round ${JSON.stringify(perRound)} must be a whole number from 10 to 9999999`);
  }
  return { targetBytes: parseSize(flags.size), ordersPerRound: Number(perRound) };
}

/** What a seed run added, and the size it left the database at. */
export interface SeedResult {
  readonly rounds: number;
  readonly users: number;
  readonly products: number;
  readonly orders: number;
  readonly orderItems: number;
  readonly auditRows: number;
  readonly bytes: number;
  readonly seconds: number;
}

export interface SeedOptions {
  readonly targetBytes: number;
  readonly ordersPerRound?: number;
  /** Stops after this many rounds even below the size (tests). */
  readonly maxRounds?: number;
  readonly onProgress?: (progress: SeedResult) => void;
}

async function databaseBytes(client: Client): Promise<number> {
  const { rows } = await client.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes');
  return Number(rows[0]?.bytes ?? 0);
}

const EVENTS = [
  AUDIT_EVENT.loginSucceeded,
  AUDIT_EVENT.logout,
  AUDIT_EVENT.loginFailed,
  AUDIT_EVENT.usersRead,
  AUDIT_EVENT.roleGranted,
] as const;

/** Appends `count` audit rows for `actors` to the chain, hashed as {@link AuditLog} hashes them, in one transaction. */
async function appendAuditRows(client: Client, actors: readonly string[], count: number, tag: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK_KEY]);
    const head = await client.query<{ hash: string; at: string }>(
      `SELECT (SELECT hash FROM audit_logs ORDER BY id DESC LIMIT 1) AS hash,
              (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS at`,
    );
    let previous: string | null = head.rows[0]?.hash ?? null;
    const startMicros = BigInt(head.rows[0]?.at ?? '0');
    for (let offset = 0; offset < count; offset += AUDIT_INSERT_BATCH) {
      const size = Math.min(AUDIT_INSERT_BATCH, count - offset);
      const columns = {
        at: [] as string[],
        actor: [] as (string | null)[],
        type: [] as string[],
        rtype: [] as (string | null)[],
        rid: [] as (string | null)[],
        ip: [] as string[],
        agent: [] as string[],
        metadata: [] as string[],
        prev: [] as (string | null)[],
        hash: [] as string[],
      };
      for (let index = 0; index < size; index += 1) {
        const n = offset + index;
        const micros = startMicros + BigInt(n);
        const seconds = micros / 1_000_000n;
        const fraction = (micros % 1_000_000n).toString().padStart(6, '0');
        const occurredAt = `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
        const actor = actors[n % actors.length] ?? null;
        const type = EVENTS[n % EVENTS.length] ?? AUDIT_EVENT.logout;
        const content: AuditRowContent = {
          occurred_at: occurredAt,
          actor_user_id: actor,
          event_type: type,
          resource_type: type === AUDIT_EVENT.roleGranted ? 'user' : null,
          resource_id: type === AUDIT_EVENT.roleGranted ? actor : null,
          ip: `198.51.100.${(n % 254) + 1}`,
          user_agent: `Mozilla/5.0 (seed ${tag}) erp-client/${n % 7}`,
          before: null,
          after: null,
          metadata: { seed: tag, n, channel: n % 3 === 0 ? 'web' : 'api' },
          prev_hash: previous,
        };
        const hash = auditRowHash(content);
        columns.at.push(occurredAt);
        columns.actor.push(content.actor_user_id);
        columns.type.push(type);
        columns.rtype.push(content.resource_type);
        columns.rid.push(content.resource_id);
        columns.ip.push(content.ip ?? '');
        columns.agent.push(content.user_agent ?? '');
        columns.metadata.push(JSON.stringify(content.metadata));
        columns.prev.push(previous);
        columns.hash.push(hash);
        previous = hash;
      }
      // WITH ORDINALITY ... ORDER BY keeps the identity ids in chain order.
      await client.query(
        `INSERT INTO audit_logs (occurred_at, actor_user_id, event_type, resource_type, resource_id, ip, user_agent,
                                 metadata, prev_hash, hash)
         SELECT at, actor, type, rtype, rid, ip, agent, metadata, prev, hash
           FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::inet[], $7::text[],
                       $8::jsonb[], $9::text[], $10::text[])
                WITH ORDINALITY AS r(at, actor, type, rtype, rid, ip, agent, metadata, prev, hash, n)
          ORDER BY n`,
        [
          columns.at,
          columns.actor,
          columns.type,
          columns.rtype,
          columns.rid,
          columns.ip,
          columns.agent,
          columns.metadata,
          columns.prev,
          columns.hash,
        ],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Inserts rounds of users, orders with their lines, and audit rows into the database `client` is connected to (as
 * its owner), until `pg_database_size` reaches `targetBytes`. Products are made once per run.
 */
export async function seedDatabase(client: Client, options: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const ordersPerRound = options.ordersPerRound ?? 20_000;
  const run = randomBytes(4).toString('hex');
  await client.query('SET synchronous_commit = off');
  const products = await client.query<{ id: string; price_cents: number }>(
    `INSERT INTO products (sku, name, description, price_cents, stock)
     SELECT 'SEED-' || $1 || '-' || g, 'Seed part ' || g || ' (' || (ARRAY['bolt','gear','valve','bearing','seal'])[1 + g % 5] || ')',
            'Industrial part for load and recovery measurements; batch ' || $1, 100 + (g * 7919) % 99900, 100000
       FROM generate_series(1, $2::int) g
     RETURNING id, price_cents`,
    [run, PRODUCTS],
  );
  const productIds = products.rows.map((row) => row.id);
  const prices = products.rows.map((row) => row.price_cents);
  let totals: SeedResult = {
    rounds: 0,
    users: 0,
    products: productIds.length,
    orders: 0,
    orderItems: 0,
    auditRows: 0,
    bytes: await databaseBytes(client),
    seconds: 0,
  };
  while (totals.bytes < options.targetBytes && totals.rounds < (options.maxRounds ?? Number.POSITIVE_INFINITY)) {
    const round = totals.rounds + 1;
    const tag = `${run}-${round}`;
    const users = await client.query<{ id: string }>(
      `INSERT INTO users (email, username, password_hash, created_at)
       SELECT 'seed-' || $1 || '-' || g || '@example.test', 'seed-' || $1 || '-' || g, $2,
              now() - (g % 365) * interval '1 day'
         FROM generate_series(1, $3::int) g
       RETURNING id::text AS id`,
      [tag, NO_LOGIN_HASH, USERS_PER_ROUND],
    );
    const userIds = users.rows.map((row) => row.id);
    // Lines first, so each order's total is the sum of its lines; product offsets 101 apart keep (order, product) unique.
    const inserted = await client.query<{ orders: string; items: string }>(
      `WITH src AS MATERIALIZED (
         SELECT g, gen_random_uuid() AS id, now() - (g % 43200) * interval '1 minute' AS at
           FROM generate_series(1, $1::int) g
       ),
       lines AS MATERIALIZED (
         SELECT src.id AS order_id, p.idx, 1 + (src.g + k) % 4 AS quantity, ($3::int[])[p.idx] AS price
           FROM src, generate_series(0, src.g % 5) k,
                LATERAL (SELECT 1 + ((src.g * 13 + k * 101) % cardinality($2::uuid[])) AS idx) p
       ),
       totals AS (SELECT order_id, sum(quantity * price) AS total FROM lines GROUP BY order_id),
       o AS (
         INSERT INTO orders (id, user_id, status, total_cents, created_at, updated_at)
         SELECT src.id, ($4::uuid[])[1 + src.g % cardinality($4::uuid[])],
                (ARRAY['pending','paid','shipped','delivered','cancelled'])[1 + (src.g * 31) % 5], totals.total, src.at, src.at
           FROM src JOIN totals ON totals.order_id = src.id
         RETURNING 1
       ),
       i AS (
         INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
         SELECT order_id, ($2::uuid[])[idx], quantity, price FROM lines
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM o)::text AS orders, (SELECT count(*) FROM i)::text AS items`,
      [ordersPerRound, productIds, prices, userIds],
    );
    const auditRows = Math.max(1, Math.floor(ordersPerRound / ORDERS_PER_AUDIT_ROW));
    await appendAuditRows(client, userIds, auditRows, tag);
    totals = {
      rounds: round,
      users: totals.users + userIds.length,
      products: totals.products,
      orders: totals.orders + Number(inserted.rows[0]?.orders ?? 0),
      orderItems: totals.orderItems + Number(inserted.rows[0]?.items ?? 0),
      auditRows: totals.auditRows + auditRows,
      bytes: await databaseBytes(client),
      seconds: (performance.now() - started) / 1000,
    };
    options.onProgress?.(totals);
  }
  await client.query('ANALYZE');
  return { ...totals, seconds: (performance.now() - started) / 1000 };
}

/** The seed CLI as a function: parses `argv`, runs, writes progress and a table to `io`, returns the exit code. */
export async function runSeedCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const parsed = parseCommandLine('seed', USAGE, io, () => parseInvocation(argv));
  if (!parsed.ok) return parsed.exitCode;
  const config = readCliConfig(io, () => loadDatabaseUrl(env));
  if (!config.ok) return config.exitCode;
  const { targetBytes, ordersPerRound } = parsed.value;
  const client = new Client({ connectionString: config.value, application_name: 'erp-api-seed' });
  let lastProgress = 0;
  try {
    await client.connect();
    const before = await databaseBytes(client);
    io.stdout(`seed: database at ${formatBytes(before)}, filling to ${formatBytes(targetBytes)}\n`);
    const result = await seedDatabase(client, {
      targetBytes,
      ordersPerRound,
      onProgress: (progress) => {
        const now = performance.now();
        if (now - lastProgress < PROGRESS_EVERY_MS && progress.bytes < targetBytes) return;
        lastProgress = now;
        const percent = Math.min(100, (progress.bytes / targetBytes) * 100).toFixed(0);
        io.stdout(
          `seed: ${formatBytes(progress.bytes)} of ${formatBytes(targetBytes)} (${percent}%), ${progress.orders} orders, ${progress.auditRows} audit rows, ${progress.seconds.toFixed(0)} s\n`,
        );
      },
    });
    const rows: [string, string][] = [
      ['users', String(result.users)],
      ['products', String(result.products)],
      ['orders', String(result.orders)],
      ['order items', String(result.orderItems)],
      ['audit rows', String(result.auditRows)],
      ['database size', formatBytes(result.bytes)],
      ['seconds', result.seconds.toFixed(1)],
    ];
    io.stdout(`\n| seeded | value |\n| --- | --- |\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`);
    return EXIT.ok;
  } catch (error) {
    io.stderr(
      `seed: failed: ${(error as Error).message}; check DATABASE_URL, that the database is migrated (npm run migrate -w app) and that the role owns its tables\n`,
    );
    return EXIT.unavailable;
  } finally {
    await client.end().catch(() => undefined);
  }
}

runWhenEntryPoint(import.meta.url, 'seed', runSeedCli, EXIT.unavailable);
