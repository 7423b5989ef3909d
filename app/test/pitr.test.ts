import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { scopeDir } from '@slipway/pipelines/platform/paths';
import { withDatabase } from '../src/backup/postgres.js';
import { BackupStore } from '../src/backup/store.js';
import {
  ARCHIVE_TIMEOUT_SECONDS,
  WAL_FOLDER,
  listBaseBackups,
  pointInTimeRestore,
  takeBaseBackup,
  walShellCommand,
} from '../src/backup/wal.js';
import { runBackupCli } from '../src/bin/backup-cli.js';
import { EXIT as DRILL_EXIT, runDrillCli } from '../src/bin/drill.js';
import { runRestoreCli } from '../src/bin/restore-cli.js';
import { runWalCli } from '../src/bin/wal-cli.js';
import { startPrivateObjectStore } from './support/private-object-store.js';
import type { PrivateObjectStore } from './support/private-object-store.js';
import { startPrivatePostgres } from './support/private-postgres.js';
import type { PrivatePostgres } from './support/private-postgres.js';
import { testServices } from './support/services.js';

const dir = join(scopeDir('test'), `run-${process.pid}-pitr`);
const PREFIX = `pitr-${randomBytes(3).toString('hex')}/`;
let objectStore: PrivateObjectStore;
let server: PrivatePostgres;
let storeEnv: Record<string, string>;

beforeAll(async () => {
  objectStore = await startPrivateObjectStore(dir);
  storeEnv = { ...objectStore.env, BACKUP_PREFIX: PREFIX };
  // The server archives every WAL file into the store through the app's own `wal push`, as the platform's does.
  server = await startPrivatePostgres(dir, {
    archive: { command: walShellCommand('push'), timeoutSeconds: ARCHIVE_TIMEOUT_SECONDS, env: storeEnv },
  });
}, 120_000);

afterAll(async () => {
  await server.close();
  await objectStore.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (text: string) => out.push(text), stderr: (text: string) => err.push(text) },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Orders with three lines each, one transaction per order, as the service writes them. */
async function placeOrders(client: Client, userId: string, productIds: readonly string[], count: number) {
  for (let index = 0; index < count; index += 1) {
    await client.query('BEGIN');
    const { rows } = await client.query<{ id: string }>(
      'INSERT INTO orders (user_id, total_cents) VALUES ($1, 300) RETURNING id',
      [userId],
    );
    for (const productId of productIds)
      await client.query(
        'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES ($1, $2, 1, 100)',
        [rows[0]?.id, productId],
      );
    await client.query('COMMIT');
  }
}

/** Switches to a new WAL segment and waits until the archiver has shipped the one holding everything so far. */
async function archiveEverything(client: Client): Promise<void> {
  const { rows } = await client.query<{ segment: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS segment');
  const segment = rows[0]?.segment ?? '';
  const deadline = Date.now() + 60_000;
  for (;;) {
    const archiver = await client.query<{ last: string | null; failed: string; error: string | null }>(
      'SELECT last_archived_wal AS last, failed_count::text AS failed, last_failed_wal AS error FROM pg_stat_archiver',
    );
    const last = archiver.rows[0]?.last ?? '';
    if (last >= segment) return;
    if (Date.now() > deadline)
      throw new Error(`WAL ${segment} was not archived within 60 s: ${JSON.stringify(archiver.rows[0])}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('point-in-time recovery from the WAL archive', () => {
  it('brings back every order after an accidental DELETE FROM orders, including those written after the base backup', async () => {
    const seeded = await withClient(server.url, async (client) => {
      const user = await client.query<{ id: string }>(
        "INSERT INTO users (email, username, password_hash) VALUES ('pitr@example.com', 'pitr', 'x') RETURNING id",
      );
      const products = await client.query<{ id: string }>(
        `INSERT INTO products (sku, name, price_cents, stock)
         SELECT 'PITR-' || n, 'Widget', 100, 1000 FROM generate_series(1, 3) n RETURNING id`,
      );
      const userId = user.rows[0]?.id ?? '';
      const productIds = products.rows.map((row) => row.id);
      await placeOrders(client, userId, productIds, 20);
      return { userId, productIds };
    });

    const wal = io();
    expect(await runWalCli(['base-backup'], { ...storeEnv, DATABASE_URL: server.url }, wal.io), wal.stderr()).toBe(0);
    expect(wal.stdout()).toMatch(/base backup\s+\d{4}-/);

    const target = await withClient(server.url, async (client) => {
      // Written after the base backup: only the WAL archive holds these.
      await placeOrders(client, seeded.userId, seeded.productIds, 10);
      await sleep(1_000);
      const { rows } = await client.query<{ now: Date }>('SELECT clock_timestamp() AS now');
      await sleep(1_000);
      const deleted = await client.query('DELETE FROM orders');
      expect(deleted.rowCount).toBe(30);
      const { rows: left } = await client.query<{ lines: string }>('SELECT count(*)::text AS lines FROM order_items');
      expect(left[0]?.lines).toBe('0');
      await archiveEverything(client);
      return rows[0]?.now ?? new Date();
    });

    const into = 'erp_pitr_recovered';
    const restore = io();
    const env = { ...storeEnv, DATABASE_URL: server.url };
    const code = await runRestoreCli(['--to-time', target.toISOString(), '--into', into, '--json'], env, restore.io);
    expect(code, restore.stderr()).toBe(0);
    const result = JSON.parse(restore.stdout()) as {
      rowCounts: Record<string, number>;
      newestChange: string;
      targetGapSeconds: number;
      totalMs: number;
    };
    expect(result.rowCounts).toMatchObject({ orders: 30, order_items: 90, products: 3, users: 1 });
    // RPO of this recovery: the newest restored change against the target (the last order, 1 s before it).
    expect(new Date(result.newestChange).getTime()).toBeLessThanOrEqual(target.getTime());
    expect(result.targetGapSeconds).toBeLessThan(60);
    process.stdout.write(
      `PITR: RPO ${result.targetGapSeconds.toFixed(2)} s (target ${target.toISOString()}, newest restored commit ${result.newestChange}), restore ${(result.totalMs / 1000).toFixed(1)} s\n`,
    );

    const restored = await withClient(withDatabase(server.url, into), async (client) => {
      const { rows } = await client.query<{ orders: string; partial: string }>(
        `SELECT (SELECT count(*) FROM orders)::text AS orders,
                (SELECT count(*) FROM (SELECT order_id FROM order_items GROUP BY order_id HAVING count(*) <> 3) p)::text AS partial`,
      );
      return rows[0];
    });
    expect(restored).toEqual({ orders: '30', partial: '0' });
    // The live database keeps its state: the recovery wrote only into the new database.
    const live = await withClient(server.url, (client) => client.query('SELECT 1 FROM orders'));
    expect(live.rowCount).toBe(0);
  }, 240_000);

  it('the drill applies point-in-time recovery after the logical restore, and its RPO is bounded by archive_timeout', async () => {
    const env = { ...storeEnv, DATABASE_URL: server.url, REDIS_URL: testServices().redis.url };
    const backup = io();
    expect(await runBackupCli([], env, backup.io), backup.stderr()).toBe(0);
    // Orders keep arriving, as in production; only archive_timeout ships their WAL (no forced switch here).
    const writer = new Client({ connectionString: server.url });
    await writer.connect();
    const { rows } = await writer.query<{ user_id: string; product_id: string }>(
      'SELECT (SELECT id FROM users LIMIT 1) AS user_id, (SELECT id FROM products LIMIT 1) AS product_id',
    );
    const userId = rows[0]?.user_id ?? '';
    const productId = rows[0]?.product_id ?? '';
    const writing = { on: true };
    const writes = (async () => {
      while (writing.on) {
        await placeOrders(writer, userId, [productId], 1);
        await sleep(500);
      }
    })();
    try {
      await sleep((ARCHIVE_TIMEOUT_SECONDS + 10) * 1000);
      const drill = io();
      const code = await runDrillCli(['--into', 'erp_pitr_drill', '--json'], env, drill.io);
      expect(code, drill.stderr()).toBe(DRILL_EXIT.ok);
      const result = JSON.parse(drill.stdout()) as {
        checks: { name: string; ok: boolean; detail: string }[];
        rpoSeconds: number;
        rtoSeconds: number;
        timings: { pitrMs: number };
      };
      const pitr = result.checks.find((check) => check.name === 'point-in-time recovery');
      expect(pitr).toMatchObject({ ok: true });
      expect(pitr?.detail).toMatch(/^base \S+ \+ WAL to \d{4}-/);
      expect(result.timings.pitrMs).toBeGreaterThan(0);
      // The logical backup is tens of seconds old; the WAL archive brings the RPO under the 60 s target.
      expect(result.rpoSeconds).toBeLessThan(60);
      process.stdout.write(
        `drill with PITR: RPO ${result.rpoSeconds.toFixed(1)} s, RTO ${result.rtoSeconds.toFixed(1)} s (PITR ${(result.timings.pitrMs / 1000).toFixed(1)} s)\n`,
      );
    } finally {
      writing.on = false;
      await writes;
      await writer.end();
    }
  }, 300_000);

  it('refuses a target before every base backup, the live database, and a time without a zone', async () => {
    const env = { ...storeEnv, DATABASE_URL: server.url };
    const store = new BackupStore(objectStore.config(PREFIX));
    const oldest = (await listBaseBackups(store))[0];
    store.destroy();
    expect(oldest).toBeDefined();

    const early = io();
    const before = new Date(new Date(oldest?.startedAt ?? 0).getTime() - 60_000).toISOString();
    expect(await runRestoreCli(['--to-time', before, '--into', 'erp_pitr_early'], env, early.io)).toBe(77);
    expect(early.stderr()).toContain('is before the oldest base backup finished');

    const live = io();
    expect(await runRestoreCli(['--to-time', new Date().toISOString(), '--into', 'erp_fault'], env, live.io)).toBe(77);
    expect(live.stderr()).toContain('--into erp_fault is the live database');

    const zoneless = io();
    expect(await runRestoreCli(['--to-time', '2026-12-05 04:00:00', '--into', 'x'], env, zoneless.io)).toBe(64);
    expect(zoneless.stderr()).toContain('is not an RFC 3339 time with a zone');
  });

  it('retention deletes expired base backups and only the WAL they alone needed: recovery from the kept one still works', async () => {
    const store = new BackupStore(objectStore.config(PREFIX));
    try {
      const before = await listBaseBackups(store);
      expect(before.length).toBeGreaterThan(0);
      const walBefore = await store.list(WAL_FOLDER);
      // Eight days on, with 7 days kept: every earlier base backup has expired.
      const later = new Date(Date.now() + 8 * 86_400_000);
      const kept = await takeBaseBackup({ connectionString: server.url, store, retentionDays: 7, now: () => later });
      expect((await listBaseBackups(store)).map((base) => base.backupId)).toEqual([kept.backupId]);
      const walAfter = (await store.list(WAL_FOLDER)).map((object) => object.key.slice(WAL_FOLDER.length));
      expect(walAfter.length).toBeLessThan(walBefore.length);
      expect(walAfter.filter((name) => /^[0-9A-F]{24}/.test(name) && name.slice(0, 24) < kept.startWal)).toEqual([]);
      await withClient(server.url, archiveEverything);
      const recovered = await pointInTimeRestore({
        connectionString: server.url,
        store,
        toTime: undefined,
        into: 'erp_pitr_after_retention',
      });
      expect(recovered.baseBackupId).toBe(kept.backupId);
      expect(recovered.rowCounts.users).toBe(1);
    } finally {
      store.destroy();
    }
  }, 180_000);

  it('fetch exits 1 for a WAL file the archive lacks, and refuses a name PostgreSQL never passes', async () => {
    const missing = io();
    expect(await runWalCli(['fetch', '00000009000000000000FFFF', join(dir, 'x')], storeEnv, missing.io)).toBe(1);
    const wrong = io();
    expect(await runWalCli(['push', '/etc/passwd', '../passwd'], storeEnv, wrong.io)).toBe(64);
    expect(wrong.stderr()).toContain('is not a WAL file name');
  });
});
