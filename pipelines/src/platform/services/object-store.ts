import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { ServiceDefinition } from '../supervisor.js';
import { toolPath } from '../tools.js';

export interface ObjectStoreOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** Made on start when missing. */
  readonly bucket: string;
  /** Start from an empty store (tests). */
  readonly fresh?: boolean;
}

export interface ObjectStoreService extends ServiceDefinition {
  readonly bucket: string;
  /** The variables `erp-api backup` and `restore` need to use this store (app/src/config.ts, AWS SDK). */
  readonly clientEnv: Readonly<Record<string, string>>;
}

/** The local store checks no signature; the SDK still signs, so it needs some credentials. */
export const LOCAL_STORE_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'slipway-local',
  AWS_SECRET_ACCESS_KEY: 'slipway-local-store-accepts-any-key',
} as const;

/** The variables `erp-api backup`, `restore` and `wal` need to use the local store at `url`. */
export function objectStoreClientEnv(url: string, bucket: string): Readonly<Record<string, string>> {
  return {
    BACKUP_BUCKET: bucket,
    BACKUP_S3_ENDPOINT: url,
    BACKUP_S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    ...LOCAL_STORE_CREDENTIALS,
  };
}

/**
 * gofakes3 (`.tools/bin/gofakes3`, MIT, built by scripts/bootstrap): an S3-compatible server whose bolt backend
 * keeps objects in one file across restarts. It binds loopback only: it checks no credentials.
 */
export function objectStoreService(options: ObjectStoreOptions): ObjectStoreService {
  const { host, port, bucket } = options;
  const dataDir = join(options.dir, 'data');
  const url = `http://${host}:${port}`;
  return {
    name: 'object-store',
    host,
    port,
    portEnv: options.portEnv,
    url,
    bucket,
    clientEnv: objectStoreClientEnv(url, bucket),
    // resolved when read, so a platform without the tool built fails at start with the bootstrap hint
    get command() {
      return toolPath('gofakes3');
    },
    args: [
      '-backend',
      'bolt',
      '-bolt.db',
      join(dataDir, 'objects.db'),
      '-host',
      `${host}:${port}`,
      '-initialbucket',
      bucket,
    ],
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 10_000,

    prepare(): Promise<void> {
      if (options.fresh === true) rmSync(dataDir, { recursive: true, force: true });
      mkdirSync(dataDir, { recursive: true });
      return Promise.resolve();
    },

    async probe(): Promise<void> {
      // ListObjectsV2 of the bucket: 200 once the server listens and the bucket exists
      const response = await fetch(`${url}/${bucket}?list-type=2&max-keys=0`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`listing bucket ${bucket} answered ${response.status}`);
    },
  };
}
