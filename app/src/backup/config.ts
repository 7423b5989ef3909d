import { ConfigError, loadVariables } from '../config.js';
import type { BackupStoreConfig } from './store.js';

/** The region a local S3-compatible endpoint is signed for when AWS_REGION is unset: any will do. */
const LOCAL_REGION = 'us-east-1';

/** What backup and restore read: DATABASE_URL, the BACKUP_* store variables and retention. */
export interface BackupCliConfig {
  readonly connectionString: string;
  readonly store: BackupStoreConfig;
  readonly retentionDays: number;
}

/**
 * Reads DATABASE_URL and the BACKUP_* variables by the app's config schema (app/src/config.ts), and requires a
 * bucket and, for AWS itself, a region.
 * @throws {ConfigError} listing every problem at once.
 */
export function loadBackupConfig(env: NodeJS.ProcessEnv = process.env): BackupCliConfig {
  return readBackupConfig(env, true);
}

/**
 * The store alone, for the WAL archive and restore commands PostgreSQL runs (they need no DATABASE_URL).
 * @throws {ConfigError} listing every problem at once.
 */
export function loadBackupStoreConfig(env: NodeJS.ProcessEnv = process.env): BackupStoreConfig {
  return readBackupConfig(env, false).store;
}

function readBackupConfig(env: NodeJS.ProcessEnv, needsDatabase: boolean): BackupCliConfig {
  const problems: string[] = [];
  let values;
  try {
    values = loadVariables(
      [
        ...(needsDatabase ? (['DATABASE_URL'] as const) : []),
        'BACKUP_BUCKET',
        'BACKUP_PREFIX',
        'BACKUP_S3_ENDPOINT',
        'BACKUP_S3_FORCE_PATH_STYLE',
        'BACKUP_KMS_KEY_ID',
        'BACKUP_RETENTION_DAYS',
      ],
      env,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const bucket = env.BACKUP_BUCKET === undefined || env.BACKUP_BUCKET === '' ? undefined : env.BACKUP_BUCKET;
  if (bucket === undefined)
    problems.push(
      'BACKUP_BUCKET is not set but is required by backup and restore: set it to the backup bucket (the Backups component outputs bucketName; npm start makes one locally)',
    );
  const region = env.AWS_REGION === undefined || env.AWS_REGION === '' ? undefined : env.AWS_REGION;
  const endpoint =
    env.BACKUP_S3_ENDPOINT === undefined || env.BACKUP_S3_ENDPOINT === '' ? undefined : env.BACKUP_S3_ENDPOINT;
  if (region === undefined && endpoint === undefined)
    problems.push(
      'AWS_REGION is not set but AWS S3 needs it (BACKUP_S3_ENDPOINT is empty): set AWS_REGION to the bucket region, or BACKUP_S3_ENDPOINT to a local store',
    );
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? '';
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? '';
  if ((accessKeyId === '') !== (secretAccessKey === ''))
    problems.push(
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together: set both, or neither to use the role of the pod (IRSA)',
    );
  if (problems.length > 0 || values === undefined) throw new ConfigError(problems);
  return {
    connectionString: 'DATABASE_URL' in values ? values.DATABASE_URL : '',
    store: {
      bucket: values.BACKUP_BUCKET ?? '',
      prefix: values.BACKUP_PREFIX,
      endpoint: values.BACKUP_S3_ENDPOINT,
      forcePathStyle: values.BACKUP_S3_FORCE_PATH_STYLE,
      kmsKeyId: values.BACKUP_KMS_KEY_ID,
      region: region ?? LOCAL_REGION,
      // Given explicitly, the keys from this environment win; otherwise the SDK's default chain (IRSA) applies.
      credentials:
        accessKeyId === ''
          ? undefined
          : {
              accessKeyId,
              secretAccessKey,
              ...(env.AWS_SESSION_TOKEN === undefined || env.AWS_SESSION_TOKEN === ''
                ? {}
                : { sessionToken: env.AWS_SESSION_TOKEN }),
            },
    },
    retentionDays: values.BACKUP_RETENTION_DAYS,
  };
}
