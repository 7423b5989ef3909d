import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ObjectLockMode } from '@aws-sdk/client-s3';

import type { BackupStore } from '../../backup/store.js';
import {
  AUDIT_CHECKPOINT_PREFIX,
  auditCheckpointName,
  newestCheckpointName,
  parseAuditCheckpoint,
} from './checkpoint.js';
import type { AuditCheckpoint, AuditCheckpointStore, StoredAuditCheckpoint } from './checkpoint.js';

/** S3 Object Lock for each checkpoint: nobody (COMPLIANCE) or only a privileged role (GOVERNANCE) may delete it early. */
export interface CheckpointLock {
  readonly mode: ObjectLockMode;
  readonly days: number;
}

/**
 * Checkpoints as objects under `<BACKUP_PREFIX>audit-checkpoints/` of the backup bucket, out of the database owner's
 * reach: in the cloud each is written with an Object Lock retention (the bucket has Object Lock on), so not even the
 * backup role can rewrite or delete it; locally the S3-compatible store is a separate process and data directory.
 */
export class S3AuditCheckpointStore implements AuditCheckpointStore {
  readonly location: string;

  constructor(
    private readonly store: BackupStore,
    private readonly lock?: CheckpointLock,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.location = store.url(AUDIT_CHECKPOINT_PREFIX);
  }

  async write(checkpoint: AuditCheckpoint): Promise<string> {
    const key = `${AUDIT_CHECKPOINT_PREFIX}${auditCheckpointName(checkpoint)}`;
    const { config } = this.store;
    const retainUntil =
      this.lock === undefined ? undefined : new Date(this.now().getTime() + this.lock.days * 86_400_000);
    try {
      await this.store.client.send(
        new PutObjectCommand({
          Bucket: config.bucket,
          Key: `${config.prefix}${key}`,
          Body: `${JSON.stringify(checkpoint)}\n`,
          ContentType: 'application/json',
          ...(config.kmsKeyId === undefined ? {} : { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: config.kmsKeyId }),
          ...(this.lock === undefined
            ? {}
            : { ObjectLockMode: this.lock.mode, ObjectLockRetainUntilDate: retainUntil, ChecksumAlgorithm: 'SHA256' }),
        }),
      );
    } catch (error) {
      throw new Error(`could not write ${this.store.url(key)}: ${(error as Error).message}`, { cause: error });
    }
    return key;
  }

  close(): void {
    this.store.destroy();
  }

  async latest(atMostSeq?: string): Promise<StoredAuditCheckpoint | undefined> {
    const { config } = this.store;
    const prefix = `${config.prefix}${AUDIT_CHECKPOINT_PREFIX}`;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.store.client.send(
        new ListObjectsV2Command({
          Bucket: config.bucket,
          Prefix: prefix,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      );
      for (const object of page.Contents ?? []) {
        names.push(object.Key?.slice(prefix.length) ?? '');
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    const newest = newestCheckpointName(names, atMostSeq);
    if (newest === undefined) return undefined;
    const key = `${AUDIT_CHECKPOINT_PREFIX}${newest}`;
    const response = await this.store.client.send(
      new GetObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${key}` }),
    );
    const text = (await response.Body?.transformToString('utf8')) ?? '';
    return { key, checkpoint: parseAuditCheckpoint(key, text) };
  }
}
