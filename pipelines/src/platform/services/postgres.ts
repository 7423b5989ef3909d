import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { ownedDirectory, serviceAccount } from '../accounts.js';
import { PlatformError } from '../errors.js';
import type { Progress } from '../progress.js';
import { localSecret } from '../secrets.js';
import type { ServiceDefinition } from '../supervisor.js';

export const MIN_POSTGRES_MAJOR = 15;
const SUPERUSER = 'slipway';

/** Newest PostgreSQL server bin folder (Debian keeps one per major under /usr/lib/postgresql), or PG_BIN_DIR. */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.PG_BIN_DIR;
  if (override) {
    if (!existsSync(join(override, 'postgres'))) {
      throw new PlatformError(
        `PG_BIN_DIR=${override} holds no 'postgres' binary`,
        'point PG_BIN_DIR at a PostgreSQL bin folder, or unset it',
      );
    }
    return override;
  }
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .map(Number)
        .filter((major) => major >= MIN_POSTGRES_MAJOR && existsSync(join(root, String(major), 'bin', 'initdb')))
        .sort((a, b) => b - a)
    : [];
  const newest = majors[0];
  if (newest === undefined) {
    throw new PlatformError(
      `no PostgreSQL ${MIN_POSTGRES_MAJOR}+ server found (looked for ${root}/<major>/bin/initdb)`,
      'run scripts/bootstrap (installs the postgresql package), or set PG_BIN_DIR to a PostgreSQL bin folder',
    );
  }
  return join(root, String(newest), 'bin');
}

export interface PostgresOptions {
  /** Folder that holds this instance's data directory and password. */
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** Databases created after start (idempotent). */
  readonly databases: readonly string[];
  /** Trade durability for speed (tests): fsync, synchronous_commit and full_page_writes off. */
  readonly disposable?: boolean;
  /** Start from an empty data directory (tests). */
  readonly fresh?: boolean;
  /** WAL archiving for point-in-time recovery: every WAL file goes to the backup store through `command`. */
  readonly archive?: WalArchive;
}

/** archive_command and what it needs: `erp-api wal push "%p" "%f"` with the backup store's variables. */
export interface WalArchive {
  /** The shell command PostgreSQL runs per WAL file (%p its path, %f its name). */
  readonly command: string;
  /** A segment is shipped at most this long after a write: the RPO bound. */
  readonly timeoutSeconds: number;
  /** BACKUP_* and AWS_* for the command, in the server's environment (never in its command line). */
  readonly env: Readonly<Record<string, string>>;
}

/** The shell command that runs the app's `wal` CLI from this checkout (tsx on Node, as the platform's other CLIs). */
export function walCommandFromCheckout(checkout: string, subcommand: 'push' | 'fetch'): string {
  const quote = (part: string): string => `'${part.replace(/'/g, `'\\''`)}'`;
  const argv = [
    process.execPath,
    join(checkout, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
    join(checkout, 'app', 'src', 'bin', 'wal-cli.ts'),
  ];
  return `${argv.map(quote).join(' ')} ${subcommand === 'push' ? 'push "%p" "%f"' : 'fetch "%f" "%p"'}`;
}

export interface PostgresService extends ServiceDefinition {
  readonly user: string;
  /** Connection string with the password, for the app and tests; never print it. */
  connectionString(database: string): string;
  /** The same for another login role (e.g. the app's least-privilege role); never print it. */
  connectionStringAs(user: string, password: string, database: string): string;
}

export function postgresService(options: PostgresOptions): PostgresService {
  const bin = postgresBinDir();
  const runAs = serviceAccount('postgres', 'postgresql');
  const dataDir = join(options.dir, 'data');
  let dataPath = dataDir;
  const password = localSecret(join(options.dir, 'password'));
  const { host, port } = options;
  const connectionString = (database: string): string =>
    `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}`;

  const withClient = async <T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: connectionString(database), connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  const settings = [
    `listen_addresses=${host}`,
    `port=${port}`,
    'unix_socket_directories=',
    'max_connections=200',
    // Replaying WAL from a base backup needs full-page images, so an archiving server keeps them.
    ...(options.disposable ? ['fsync=off', 'synchronous_commit=off'] : []),
    ...(options.disposable && options.archive === undefined ? ['full_page_writes=off'] : []),
    ...(options.archive === undefined
      ? []
      : [
          'wal_level=replica',
          'archive_mode=on',
          `archive_command=${options.archive.command}`,
          `archive_timeout=${options.archive.timeoutSeconds}s`,
        ]),
  ];

  return {
    name: 'postgres',
    host,
    port,
    portEnv: options.portEnv,
    user: SUPERUSER,
    url: `postgresql://${SUPERUSER}@${host}:${port}/${options.databases[0] ?? 'postgres'}`,
    command: join(bin, 'postgres'),
    // the real data folder is known only after prepare() (it may live outside a private checkout)
    get args() {
      return ['-D', dataPath, ...settings.flatMap((setting) => ['-c', setting])];
    },
    // the account may not be able to enter the checkout
    cwd: '/',
    ...(options.archive === undefined ? {} : { env: options.archive.env }),
    ...(runAs ? { runAs } : {}),
    stopSignal: 'SIGINT',
    connectionString,
    connectionStringAs: (user: string, rolePassword: string, database: string): string =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(rolePassword)}@${host}:${port}/${encodeURIComponent(database)}`,

    prepare(progress: Progress): Promise<void> {
      dataPath = ownedDirectory(dataDir, runAs, progress, options.fresh);
      if (existsSync(join(dataPath, 'PG_VERSION'))) return Promise.resolve();
      progress.step(`postgres: initialising a new cluster in ${dataDir}${runAs ? ` as '${runAs.user}'` : ''}`);
      // initdb reads the password from a file the account can reach, wherever the checkout is
      const pwfile = join(tmpdir(), `slipway-initdb-${randomBytes(8).toString('hex')}`);
      writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
      if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
      try {
        const result = spawnSync(
          join(bin, 'initdb'),
          [
            '-D',
            dataPath,
            '-U',
            SUPERUSER,
            `--pwfile=${pwfile}`,
            '--auth=scram-sha-256',
            '-E',
            'UTF8',
            '--locale=C',
            '--no-instructions',
          ],
          { encoding: 'utf8', cwd: '/', ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) },
        );
        if (result.status !== 0) {
          throw new PlatformError(
            `initdb failed for ${dataDir} (exit ${String(result.status)}): ${(result.stderr || result.stdout || String(result.error)).trim()}`,
            `remove ${dataDir} and start again; if it repeats, check that ${bin}/initdb runs`,
          );
        }
      } finally {
        rmSync(pwfile, { force: true });
      }
      return Promise.resolve();
    },

    probe: () =>
      withClient('postgres', async (client) => {
        await client.query('SELECT 1');
      }),

    afterReady: () =>
      withClient('postgres', async (client) => {
        for (const database of options.databases) {
          const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
          if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
        }
      }),
  };
}
