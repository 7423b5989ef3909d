import { join } from 'node:path';

import { freePort } from '@slipway/pipelines/platform/ports';
import { silentProgress } from '@slipway/pipelines/platform/progress';
import { LOCAL_STORE_CREDENTIALS, objectStoreService } from '@slipway/pipelines/platform/services/object-store';
import { Supervisor } from '@slipway/pipelines/platform/supervisor';
import type { BackupStoreConfig } from '../../src/backup/store.js';
import { claimRunFolder } from './run-folder.js';

const HOST = '127.0.0.1';

/** An S3-compatible server of one test file's own (the platform's gofakes3), which the test may stop. */
export interface PrivateObjectStore {
  readonly endpoint: string;
  readonly bucket: string;
  /** BACKUP_* and AWS_* variables for the backup and restore CLIs. */
  readonly env: Readonly<Record<string, string>>;
  /** A store config under `prefix` (each test its own, so tests do not see each other's backups). */
  config(prefix: string): BackupStoreConfig;
  /** The server's pid, for a test that kills it mid-upload. */
  pid(): number;
  /** Stops it (SIGTERM) and waits; the data stays for the next start. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it if it runs; safe to call twice. */
  close(): Promise<void>;
}

/** Starts a private object store under `dir` (a `run-<pid>-…` folder, swept if the worker dies). */
export async function startPrivateObjectStore(dir: string): Promise<PrivateObjectStore> {
  const port = await freePort(HOST);
  const stateFile = join(dir, 'state.json');
  const supervisor = new Supervisor(stateFile, join(dir, 'logs'), silentProgress);
  claimRunFolder(stateFile);
  const definition = (fresh: boolean) =>
    objectStoreService({
      dir: join(dir, 'object-store'),
      host: HOST,
      port,
      portEnv: 'none (this test picks a free port)',
      bucket: 'erp-backups',
      fresh,
    });
  const first = definition(true);
  try {
    await supervisor.start(first);
  } catch (error) {
    await supervisor.stopAll();
    throw error;
  }
  return {
    endpoint: first.url,
    bucket: first.bucket,
    env: first.clientEnv,
    config: (prefix) => ({
      bucket: first.bucket,
      prefix,
      endpoint: first.url,
      forcePathStyle: true,
      kmsKeyId: undefined,
      region: 'us-east-1',
      credentials: {
        accessKeyId: LOCAL_STORE_CREDENTIALS.AWS_ACCESS_KEY_ID,
        secretAccessKey: LOCAL_STORE_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      },
    }),
    pid: () => supervisor.services[0]?.pid ?? 0,
    stop: async () => {
      await supervisor.stopAll();
      claimRunFolder(stateFile);
    },
    start: () => supervisor.start(definition(false)),
    close: () => supervisor.stopAll(),
  };
}
