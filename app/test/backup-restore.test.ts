/* eslint-disable security/detect-non-literal-fs-filename -- paths are this test's run folder under .local/test */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Client, escapeIdentifier } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitUntil } from '@slipway/pipelines/testing/wait';
import { scopeDir } from '@slipway/pipelines/platform/paths';
import { takeBackup } from '../src/backup/backup.js';
import { backupTime, expiredBackups, latestBackupId, listBackups } from '../src/backup/catalogue.js';
import { fileDigest } from '../src/backup/checksum.js';
import { DUMP_OBJECT, KEY_TABLES, MANIFEST_OBJECT, backupIdFor, backupObjectKey } from '../src/backup/manifest.js';
import { ChecksumMismatchError, restoreBackup } from '../src/backup/restore.js';
import { BackupStore } from '../src/backup/store.js';
import { AuditLog, verifyAuditChain } from '../src/components/audit/index.js';
import { readMigrations } from '../src/db/migrations.js';
import type { Database } from '../src/db/pool.js';
import { withTransaction } from '../src/db/transaction.js';
import { runBackupCli } from '../src/bin/backup-cli.js';
import { runRestoreCli } from '../src/bin/restore-cli.js';
import { asAdmin, createMigratedDatabase, databaseUrl } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { insertUser, testDb } from './support/db.js';
import { startPrivateObjectStore } from './support/private-object-store.js';
import type { PrivateObjectStore } from './support/private-object-store.js';

const dir = join(scopeDir('test'), `run-${process.pid}-backup-restore`);
const audit = new AuditLog();
let objectStore: PrivateObjectStore;
const dropAfter: string[] = [];

beforeAll(async () => {
  objectStore = await startPrivateObjectStore(dir);
}, 60_000);

afterAll(async () => {
  for (const name of dropAfter)
    await asAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`));
  await objectStore.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A store under a prefix of this test's own. */
function storeFor(name: string): BackupStore {
  return new BackupStore(objectStore.config(`${name}-${randomBytes(3).toString('hex')}/`));
}

/** A migrated database with data in every key table; dropped after the file. */
async function sourceDatabase(): Promise<TestDatabase> {
  const database = await createMigratedDatabase();
  dropAfter.push(database.name);
  return database;
}

/** A name for a restore target, dropped after the file. */
function scratchName(): string {
  const name = `erp_restored_${randomBytes(5).toString('hex')}`;
  dropAfter.push(name);
  return name;
}

/** One order with three lines and its audit event, in one transaction, as the service writes them. */
async function placeOrder(db: Database, userId: string, productIds: readonly string[]): Promise<void> {
  await withTransaction(
    db,
    async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        'test.insertOrder',
        'INSERT INTO orders (user_id, total_cents) VALUES ($1, 300) RETURNING id',
        [userId],
      );
      const orderId = rows[0]?.id ?? '';
      for (const productId of productIds)
        await tx.query(
          'test.insertLine',
          'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES ($1, $2, 1, 100)',
          [orderId, productId],
        );
      await audit.record(tx, {
        type: 'order.placed',
        actorUserId: userId,
        resourceType: 'order',
        resourceId: orderId,
      });
    },
    { name: 'test.placeOrder' },
  );
}

async function seed(db: Database, orders: number): Promise<{ userId: string; productIds: string[] }> {
  const userId = await insertUser(db, 'backup');
  const productIds: string[] = [];
  for (let index = 0; index < 3; index += 1) {
    const { rows } = await db.query<{ id: string }>(
      'test.insertProduct',
      "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, 'Widget', 100, 1000) RETURNING id",
      [`SKU-${randomBytes(4).toString('hex')}`],
    );
    productIds.push(rows[0]?.id ?? '');
  }
  for (let index = 0; index < orders; index += 1) await placeOrder(db, userId, productIds);
  return { userId, productIds };
}

async function queryOne<T>(url: string, sql: string): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(sql);
    return rows[0] as T;
  } finally {
    await client.end();
  }
}

describe('backup and restore', () => {
  it('backs up one snapshot with a manifest, and restores the latest into a new database that matches it', async () => {
    const source = await sourceDatabase();
    const { db } = testDb(source.url);
    await seed(db, 5);
    await db.end();
    const store = storeFor('roundtrip');
    const lines: string[] = [];
    const result = await takeBackup({
      connectionString: source.url,
      store,
      retentionDays: 7,
      progress: (line) => lines.push(line),
    });
    const { manifest } = result;
    expect(manifest.rowCounts).toEqual({ users: 1, products: 3, orders: 5, order_items: 15, audit_logs: 5 });
    const files = await readMigrations();
    expect(manifest.migrations.map((m) => m.checksum)).toEqual(files.map((file) => file.checksum));
    const head = await queryOne<{ id: string; hash: string }>(
      source.url,
      'SELECT id::text AS id, hash FROM audit_logs ORDER BY id DESC LIMIT 1',
    );
    expect(manifest.auditHead).toEqual({ sequence: head.id, hash: head.hash });
    expect(manifest.sourceCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(manifest.serverVersion).toMatch(/^\d+\.\d+/);
    expect(lines.some((line) => line.startsWith('uploading '))).toBe(true);

    // The object in the store is the one the manifest describes.
    const listed = await listBackups(store);
    expect(listed.map((b) => [b.backupId, b.complete])).toEqual([[manifest.backupId, true]]);
    const copy = join(dir, 'dump-copy');
    const digest = await store.download(backupObjectKey(manifest.backupId, DUMP_OBJECT), copy);
    expect(manifest.objects).toEqual([{ name: DUMP_OBJECT, sha256: digest.sha256, size: digest.size }]);
    expect(JSON.parse(await store.getText(backupObjectKey(manifest.backupId, MANIFEST_OBJECT)))).toEqual(manifest);

    const into = scratchName();
    const restored = await restoreBackup({ connectionString: source.url, store, from: 'latest', into });
    expect(restored.manifest.backupId).toBe(manifest.backupId);
    const { db: copyDb } = testDb(databaseUrl(into));
    try {
      const verification = await verifyAuditChain(copyDb);
      expect(verification.firstBrokenId).toBeUndefined();
      expect(verification.checked).toBe(5);
    } finally {
      await copyDb.end();
    }
    store.destroy();
  }, 120_000);

  it('restores a consistent snapshot of a backup taken while orders are written', async () => {
    const source = await sourceDatabase();
    const { db } = testDb(source.url, { maxConnections: 4 });
    const { userId, productIds } = await seed(db, 20);
    let writing = true;
    let written = 0;
    const writers = [0, 1].map(async () => {
      while (writing) {
        await placeOrder(db, userId, productIds);
        written += 1;
      }
    });
    const store = storeFor('concurrent');
    try {
      // Orders keep arriving while the snapshot is taken and dumped.
      await waitUntil('20 orders written', () => written >= 20, { timeoutMs: 30_000, intervalMs: 20 });
      const { manifest } = await takeBackup({ connectionString: source.url, store, retentionDays: 7 });
      const before = written;
      await waitUntil('20 more orders written after the backup', () => written >= before + 20, {
        timeoutMs: 30_000,
        intervalMs: 20,
      });
      writing = false;
      await Promise.all(writers);
      expect(manifest.rowCounts.orders).toBeGreaterThan(20);
      const into = scratchName();
      await restoreBackup({ connectionString: source.url, store, from: manifest.backupId, into });
      const url = databaseUrl(into);
      const orphans = await queryOne<{ orphans: string; partial: string }>(
        url,
        `SELECT (SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id))::text AS orphans,
                (SELECT count(*) FROM (SELECT order_id FROM order_items GROUP BY order_id HAVING count(*) <> 3) p)::text AS partial`,
      );
      expect(orphans).toEqual({ orphans: '0', partial: '0' });
      const counts = await queryOne<{ orders: string; events: string }>(
        url,
        "SELECT (SELECT count(*) FROM orders)::text AS orders, (SELECT count(*) FROM audit_logs WHERE resource_type = 'order')::text AS events",
      );
      expect(Number(counts.orders)).toBe(manifest.rowCounts.orders);
      expect(Number(counts.events)).toBe(manifest.rowCounts.orders);
      // The source has moved on since: the restore is the snapshot, not today's data.
      const now = await queryOne<{ orders: string }>(source.url, 'SELECT count(*)::text AS orders FROM orders');
      expect(Number(now.orders)).toBeGreaterThan(manifest.rowCounts.orders);
      const { db: copyDb } = testDb(url);
      try {
        expect((await verifyAuditChain(copyDb)).firstBrokenId).toBeUndefined();
      } finally {
        await copyDb.end();
      }
    } finally {
      writing = false;
      await Promise.all(writers);
      await db.end();
      store.destroy();
    }
  }, 180_000);

  it('leaves no complete-looking backup when the store goes away mid-upload; latest stays the previous one', async () => {
    const source = await sourceDatabase();
    const { db } = testDb(source.url);
    await seed(db, 2);
    await db.end();
    // About 40 MB of dump: the upload takes several 16 MiB parts.
    await queryOne(
      source.url,
      `INSERT INTO products (sku, name, price_cents, description)
       SELECT 'BULK-' || g, 'Bulk', 100, (SELECT string_agg(md5(g::text || ':' || i || random()::text), '') FROM generate_series(1, 250) i)
       FROM generate_series(1, 10000) g`,
    );
    const store = storeFor('outage');
    const previous = await takeBackup({ connectionString: source.url, store, retentionDays: 7 });
    let stopped: Promise<void> | undefined;
    const failure = await takeBackup({
      connectionString: source.url,
      store,
      retentionDays: 7,
      progress: (line) => {
        if (stopped === undefined && line.startsWith('uploading ')) stopped = objectStore.stop();
      },
    }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(stopped).toBeDefined();
    await stopped;
    expect(failure?.message).toMatch(/could not upload s3:\/\/erp-backups\/.*dump\.pgcustom/);
    await objectStore.start();
    const backups = await listBackups(store);
    expect(backups.filter((backup) => backup.complete).map((b) => b.backupId)).toEqual([previous.manifest.backupId]);
    expect(await latestBackupId(store)).toBe(previous.manifest.backupId);
    // A newer folder without a manifest (an upload cut off where no abort reached the store) is not "latest" either.
    await store.putText(backupObjectKey(backupIdFor(new Date()), DUMP_OBJECT), 'partial', 'application/octet-stream');
    expect(await latestBackupId(store)).toBe(previous.manifest.backupId);
    const refused = await restoreBackup({
      connectionString: source.url,
      store,
      from: backupIdFor(new Date(0)),
      into: scratchName(),
    }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(refused?.message).toMatch(/could not read .*manifest\.json/);
    store.destroy();
  }, 240_000);

  it('refuses a backup whose dump was altered, naming the object, before creating the target', async () => {
    const source = await sourceDatabase();
    const { db } = testDb(source.url);
    await seed(db, 2);
    await db.end();
    const store = storeFor('corrupt');
    const { manifest } = await takeBackup({ connectionString: source.url, store, retentionDays: 7 });
    const key = backupObjectKey(manifest.backupId, DUMP_OBJECT);
    const file = join(dir, 'dump-to-corrupt');
    await store.download(key, file);
    const bytes = readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    writeFileSync(file, bytes);
    await store.putFile(key, file);
    expect((await fileDigest(file)).sha256).not.toBe(manifest.objects[0]?.sha256);

    const into = scratchName();
    const refused = await restoreBackup({ connectionString: source.url, store, from: 'latest', into }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(refused).toBeInstanceOf(ChecksumMismatchError);
    expect(refused?.message).toContain(store.url(key));
    expect(refused?.message).toContain(manifest.objects[0]?.sha256);
    const exists = await asAdmin((client) => client.query('SELECT 1 FROM pg_database WHERE datname = $1', [into]));
    expect(exists.rowCount).toBe(0);
    store.destroy();
  }, 120_000);
});

describe('retention', () => {
  const day = 86_400_000;
  const at = (daysAgo: number) => backupIdFor(new Date(Date.parse('2026-12-05T00:00:00Z') - daysAgo * day));
  const now = new Date('2026-12-05T00:00:00Z');

  it('expires backups older than the cutoff, complete or not, but never the newest complete one', () => {
    const backups = [
      { backupId: at(10), complete: true, keys: [], bytes: 0 },
      { backupId: at(8), complete: false, keys: [], bytes: 0 },
      { backupId: at(6), complete: true, keys: [], bytes: 0 },
      { backupId: at(1), complete: false, keys: [], bytes: 0 },
    ];
    expect(expiredBackups(backups, 7, now).map((b) => b.backupId)).toEqual([at(10), at(8)]);
    // Every backup expired: the newest complete one stays.
    expect(expiredBackups(backups, 0.5, now).map((b) => b.backupId)).toEqual([at(10), at(8), at(1)]);
    expect(backupTime(at(3)).getTime()).toBe(now.getTime() - 3 * day);
  });

  it('deletes whole expired backups from the store after a successful backup', async () => {
    const source = await sourceDatabase();
    const store = storeFor('retention');
    const times = [30, 20, 10].map((daysAgo) => new Date(Date.now() - daysAgo * day));
    for (const time of times)
      await takeBackup({ connectionString: source.url, store, retentionDays: 0, now: () => time });
    // An upload that never finished, 9 days ago.
    const unfinished = backupIdFor(new Date(Date.now() - 9 * day));
    await store.putText(backupObjectKey(unfinished, DUMP_OBJECT), 'partial', 'application/octet-stream');
    expect((await listBackups(store)).length).toBe(4);
    // Retention of 15 days: the 30- and 20-day-old backups go, the rest stay.
    const { pruned, manifest } = await takeBackup({ connectionString: source.url, store, retentionDays: 15 });
    expect(pruned).toEqual(times.slice(0, 2).map(backupIdFor));
    expect((await listBackups(store)).map((b) => [b.backupId, b.complete])).toEqual([
      [backupIdFor(times[2] ?? now), true],
      [unfinished, false],
      [manifest.backupId, true],
    ]);
    store.destroy();
  }, 120_000);
});

describe('the backup and restore command lines', () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    return {
      io: { stdout: (text: string) => out.push(text), stderr: (text: string) => err.push(text) },
      out: () => out.join(''),
      err: () => err.join(''),
    };
  }

  it('refuse unknown flags and missing configuration with what to do', async () => {
    const flag = io();
    expect(await runBackupCli(['--bogus'], {}, flag.io)).toBe(64);
    expect(flag.err()).toContain("Unknown option '--bogus'");
    const config = io();
    expect(
      await runBackupCli([], { DATABASE_URL: 'postgres://u@localhost/erp', BACKUP_RETENTION_DAYS: 'x' }, config.io),
    ).toBe(78);
    expect(config.err()).toContain('BACKUP_RETENTION_DAYS="x" is invalid');
    expect(config.err()).toContain('BACKUP_BUCKET is not set');
    const missing = io();
    expect(await runRestoreCli(['--into', 'erp_copy'], {}, missing.io)).toBe(64);
    expect(missing.err()).toContain('--from is required');
  });

  it('backs up and restores from the CLI, and never restores into the live database without its name repeated', async () => {
    const source = await sourceDatabase();
    const { db } = testDb(source.url);
    await seed(db, 3);
    await db.end();
    const env = {
      ...objectStore.env,
      BACKUP_PREFIX: `cli-${randomBytes(3).toString('hex')}/`,
      DATABASE_URL: source.url,
    };
    const backup = io();
    expect(await runBackupCli([], env, backup.io), backup.err()).toBe(0);
    expect(backup.out()).toMatch(/^backup\s+\d{4}-/m);
    expect(backup.out()).toContain('orders 3');

    const live = io();
    expect(await runRestoreCli(['--from', 'latest', '--into', source.name], env, live.io)).toBe(77);
    expect(live.err()).toContain(`--into ${source.name} is the live database`);
    const wrong = io();
    expect(
      await runRestoreCli(['--from', 'latest', '--into', source.name, '--confirm-overwrite', 'erp'], env, wrong.io),
    ).toBe(77);
    expect(wrong.err()).toContain('does not repeat --into');

    const into = scratchName();
    const first = io();
    expect(await runRestoreCli(['--from', 'latest', '--into', into, '--json'], env, first.io), first.err()).toBe(0);
    expect((JSON.parse(first.out()) as { rowCounts: unknown }).rowCounts).toMatchObject({ orders: 3, order_items: 9 });
    const again = io();
    expect(await runRestoreCli(['--from', 'latest', '--into', into], env, again.io)).toBe(77);
    expect(again.err()).toContain(`database ${into} already exists`);

    // Repeating the live database's name replaces it with the backup.
    await queryOne(source.url, 'DELETE FROM order_items');
    const overwrite = io();
    expect(
      await runRestoreCli(
        ['--from', 'latest', '--into', source.name, '--confirm-overwrite', source.name],
        env,
        overwrite.io,
      ),
      overwrite.err(),
    ).toBe(0);
    const lines = await queryOne<{ count: string }>(source.url, 'SELECT count(*)::text AS count FROM order_items');
    expect(lines.count).toBe('9');
    expect(KEY_TABLES).toContain('order_items');
  }, 180_000);
});
