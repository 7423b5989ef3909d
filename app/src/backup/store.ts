import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { ServerSideEncryption } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import { hashingPassThrough } from './checksum.js';
import type { Digest } from './checksum.js';

/** Where backups live: an S3 bucket (AWS, or a local S3-compatible server) under a key prefix. */
export interface BackupStoreConfig {
  readonly bucket: string;
  /** Empty, or a key prefix ending in `/` (the cloud's lifecycle tiers are prefixes such as `daily/`). */
  readonly prefix: string;
  /** A local S3-compatible server's URL; undefined for AWS itself. */
  readonly endpoint: string | undefined;
  readonly forcePathStyle: boolean;
  /** The KMS key every object is encrypted with (SSE-KMS); undefined for a local store. */
  readonly kmsKeyId: string | undefined;
  /** The AWS region; a local endpoint takes any. */
  readonly region: string | undefined;
  /** Static keys; undefined uses the AWS SDK's default chain (IRSA in the cluster). */
  readonly credentials?:
    { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string } | undefined;
}

/** The object-store operation that failed, with the key and the store's own message. */
export class BackupStoreError extends Error {
  override readonly name = 'BackupStoreError';
}

/** Parts of a multipart upload; 16 MiB keeps a 1 GB dump at 64 parts and memory at a few parts. */
const PART_SIZE = 16 * 1024 * 1024;

/** A listed object: its key below the prefix, and its size. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { Code?: unknown }).Code;
    return typeof code === 'string' && code !== error.message ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** The S3 calls a backup and a restore make, with keys relative to the configured prefix. */
export class BackupStore {
  readonly client: S3Client;

  constructor(readonly config: BackupStoreConfig) {
    this.client = new S3Client({
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      forcePathStyle: config.forcePathStyle,
      // A local endpoint has no region of its own; AWS takes AWS_REGION (set by infra) from the default chain.
      ...(config.region === undefined ? {} : { region: config.region }),
      ...(config.credentials === undefined ? {} : { credentials: config.credentials }),
      // Checksums only where S3 requires them: S3-compatible servers differ in the flexible-checksum trailers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    });
  }

  /** `s3://bucket/prefix<key>`, for messages. */
  url(key: string): string {
    return `s3://${this.config.bucket}/${this.config.prefix}${key}`;
  }

  private encryption(): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
    return this.config.kmsKeyId === undefined
      ? {}
      : { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.config.kmsKeyId };
  }

  /** Uploads a file in parts; `onProgress` gets the bytes sent so far. */
  async putFile(key: string, path: string, onProgress?: (sentBytes: number) => void): Promise<void> {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- a file this process wrote
    await this.putStream(key, createReadStream(path), onProgress);
  }

  /**
   * Uploads a stream of unknown length in parts, so nothing is staged on disk; `onProgress` gets the bytes sent so
   * far. A failure aborts the multipart upload: no object is left.
   */
  async putStream(key: string, body: Readable, onProgress?: (sentBytes: number) => void): Promise<void> {
    try {
      const upload = new Upload({
        client: this.client,
        partSize: PART_SIZE,
        queueSize: 2,
        // A failed part aborts the whole upload: no half object is left behind (the lifecycle aborts any that are).
        leavePartsOnError: false,
        params: {
          Bucket: this.config.bucket,
          Key: `${this.config.prefix}${key}`,
          Body: body,
          ContentType: 'application/octet-stream',
          ...this.encryption(),
        },
      });
      if (onProgress !== undefined) upload.on('httpUploadProgress', (progress) => onProgress(progress.loaded ?? 0));
      await upload.done();
    } catch (error) {
      throw new BackupStoreError(`could not upload ${this.url(key)}: ${describe(error)}`, { cause: error });
    }
  }

  /** Writes a small object in one request. */
  async putText(key: string, body: string, contentType: string): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: `${this.config.prefix}${key}`,
          Body: body,
          ContentType: contentType,
          ...this.encryption(),
        }),
      );
    } catch (error) {
      throw new BackupStoreError(`could not write ${this.url(key)}: ${describe(error)}`, { cause: error });
    }
  }

  /** Reads a small object as text. */
  async getText(key: string): Promise<string> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.config.bucket, Key: `${this.config.prefix}${key}` }),
      );
      if (response.Body === undefined) throw new Error('the response has no body');
      return await response.Body.transformToString('utf8');
    } catch (error) {
      throw new BackupStoreError(`could not read ${this.url(key)}: ${describe(error)}`, { cause: error });
    }
  }

  /** Downloads an object to `path`, returning the sha256 and size of the bytes written. */
  async download(key: string, path: string): Promise<Digest> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.config.bucket, Key: `${this.config.prefix}${key}` }),
      );
      if (!(response.Body instanceof Readable)) throw new Error('the response body is not a Node stream');
      const hashing = hashingPassThrough();
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- a scratch file of this process
      await pipeline(response.Body, hashing.stream, createWriteStream(path));
      return hashing.digest();
    } catch (error) {
      throw new BackupStoreError(`could not download ${this.url(key)}: ${describe(error)}`, { cause: error });
    }
  }

  /** An object's bytes as a stream, or undefined when there is no such key (a WAL file not archived yet). */
  async openIfExists(key: string): Promise<Readable | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.config.bucket, Key: `${this.config.prefix}${key}` }),
      );
      if (!(response.Body instanceof Readable)) throw new Error('the response body is not a Node stream');
      return response.Body;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if ((error as Error).name === 'NoSuchKey' || status === 404) return undefined;
      throw new BackupStoreError(`could not read ${this.url(key)}: ${describe(error)}`, { cause: error });
    }
  }

  /** Every object under `prefix<under>`, keys relative to the configured prefix. */
  async list(under: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.config.bucket,
            Prefix: `${this.config.prefix}${under}`,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          objects.push({ key: object.Key.slice(this.config.prefix.length), size: object.Size ?? 0 });
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw new BackupStoreError(`could not list ${this.url(under)}: ${describe(error)}`, { cause: error });
    }
    return objects;
  }

  /** Deletes objects, up to 1000 per request. */
  async delete(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      try {
        const response = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.config.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: `${this.config.prefix}${key}` })), Quiet: true },
          }),
        );
        const failed = response.Errors ?? [];
        if (failed.length > 0)
          throw new Error(
            failed.map((entry) => `${entry.Key ?? '?'}: ${entry.Message ?? entry.Code ?? ''}`).join('; '),
          );
      } catch (error) {
        throw new BackupStoreError(
          `could not delete ${batch.length} objects under ${this.url('')}: ${describe(error)}`,
          {
            cause: error,
          },
        );
      }
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
