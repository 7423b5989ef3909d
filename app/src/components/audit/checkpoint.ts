import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import canonicalize from 'canonicalize';

/**
 * A witness of the audit chain at one moment: the newest row's id and hash, kept outside the database so the
 * database owner cannot rewrite it. A later chain that lacks this (seq, hash), or stops before `seq`, was cut or
 * rewritten.
 */
export interface AuditCheckpoint {
  /** The newest audit_logs.id when the checkpoint was taken (bigint as text); '0' for an empty log. */
  readonly seq: string;
  /** That row's hash; null for an empty log. */
  readonly hash: string | null;
  /** Rows in the chain up to and including `seq`. */
  readonly rows: number;
  /** ISO 8601 UTC. */
  readonly takenAt: string;
  /** Which job wrote it, e.g. `audit-verify` or `backup`. */
  readonly source: string;
  /** HMAC-SHA256 (hex) over the other fields' canonical JSON, when a signing key is configured. */
  readonly signature?: string;
}

/** A checkpoint as read back from its store, with the name that identifies it there. */
export interface StoredAuditCheckpoint {
  /** The object key or file name, quoted in every message about it. */
  readonly key: string;
  readonly checkpoint: AuditCheckpoint;
}

/** Where checkpoints live: written once, never overwritten, read back newest first. */
export interface AuditCheckpointStore {
  /** Where the store is, for messages: `dir:/path` or `s3://bucket/prefix`. */
  readonly location: string;
  /** Writes `checkpoint` as a new object; never replaces an existing one. Returns its key. */
  write(checkpoint: AuditCheckpoint): Promise<string>;
  /**
   * The checkpoint with the highest `seq` (newest `takenAt` among equals), or undefined when there is none; with
   * `atMostSeq`, the newest at or below that sequence number (what a restored copy of that age must contain).
   */
  latest(atMostSeq?: string): Promise<StoredAuditCheckpoint | undefined>;
  /** Releases connections, if the store holds any. */
  close?(): void;
}

/** The folder (or key prefix) under the store's root that holds checkpoints. */
export const AUDIT_CHECKPOINT_PREFIX = 'audit-checkpoints/';
const SEQ_WIDTH = 20;

/** `<seq, zero-padded>-<takenAt>.json`: names sort by seq, then time, so the last name is the latest checkpoint. */
export function auditCheckpointName(checkpoint: AuditCheckpoint): string {
  const stamp = checkpoint.takenAt.replace(/[:.]/g, '');
  return `${checkpoint.seq.padStart(SEQ_WIDTH, '0')}-${stamp}.json`;
}

const NAME = /^\d{20}-[0-9TZ-]+\.json$/;

/** Whether `name` (without prefix) is a checkpoint object's name. */
export function isAuditCheckpointName(name: string): boolean {
  return NAME.test(name);
}

/** The newest of `names` that is a checkpoint's, at or below `atMostSeq` when given. */
export function newestCheckpointName(names: readonly string[], atMostSeq?: string): string | undefined {
  const bound = atMostSeq === undefined ? undefined : `${atMostSeq.padStart(SEQ_WIDTH, '0')}-~`;
  return names
    .filter((name) => isAuditCheckpointName(name) && (bound === undefined || name < bound))
    .sort()
    .at(-1);
}

function unsigned(checkpoint: AuditCheckpoint): Omit<AuditCheckpoint, 'signature'> {
  return {
    seq: checkpoint.seq,
    hash: checkpoint.hash,
    rows: checkpoint.rows,
    takenAt: checkpoint.takenAt,
    source: checkpoint.source,
  };
}

function mac(checkpoint: AuditCheckpoint, key: string): string {
  return createHmac('sha256', key)
    .update(canonicalize(unsigned(checkpoint)) ?? '', 'utf8')
    .digest('hex');
}

/** `checkpoint` with its HMAC signature; the key lives outside the database (a Secret the DB owner cannot read). */
export function signAuditCheckpoint(checkpoint: AuditCheckpoint, key: string): AuditCheckpoint {
  return { ...unsigned(checkpoint), signature: mac(checkpoint, key) };
}

/** Whether `checkpoint` carries a valid signature under `key`. */
export function auditCheckpointSignatureValid(checkpoint: AuditCheckpoint, key: string): boolean {
  if (checkpoint.signature === undefined || !/^[0-9a-f]{64}$/.test(checkpoint.signature)) return false;
  return timingSafeEqual(Buffer.from(checkpoint.signature, 'hex'), Buffer.from(mac(checkpoint, key), 'hex'));
}

/** A checkpoint object that is not one: the store was written by something else, or the object was damaged. */
export class AuditCheckpointFormatError extends Error {
  override readonly name = 'AuditCheckpointFormatError';
}

/** Parses a stored checkpoint; throws {@link AuditCheckpointFormatError} naming `key` when it is malformed. */
export function parseAuditCheckpoint(key: string, text: string): AuditCheckpoint {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AuditCheckpointFormatError(`audit checkpoint ${key} is not JSON`);
  }
  const record = value as Partial<Record<keyof AuditCheckpoint, unknown>> | null;
  if (
    record === null ||
    typeof record !== 'object' ||
    typeof record.seq !== 'string' ||
    !/^\d{1,19}$/.test(record.seq) ||
    !(record.hash === null || (typeof record.hash === 'string' && /^[0-9a-f]{64}$/.test(record.hash))) ||
    typeof record.rows !== 'number' ||
    !Number.isSafeInteger(record.rows) ||
    typeof record.takenAt !== 'string' ||
    typeof record.source !== 'string' ||
    !(record.signature === undefined || typeof record.signature === 'string')
  ) {
    throw new AuditCheckpointFormatError(
      `audit checkpoint ${key} is malformed: expected {seq, hash, rows, takenAt, source[, signature]}, got ${text.slice(0, 200)}`,
    );
  }
  return {
    seq: record.seq,
    hash: record.hash,
    rows: record.rows,
    takenAt: record.takenAt,
    source: record.source,
    ...(record.signature === undefined ? {} : { signature: record.signature }),
  };
}

/**
 * Checkpoints as read-only files in a directory the database's processes do not write (the local platform's run
 * folder, owned by the user running the CLI, not the PostgreSQL server). Each file is created exclusively (O_EXCL)
 * with mode 0444, so a second write of the same name fails instead of replacing it.
 */
export class DirectoryAuditCheckpointStore implements AuditCheckpointStore {
  readonly location: string;
  readonly #dir: string;

  constructor(root: string) {
    this.#dir = join(root, AUDIT_CHECKPOINT_PREFIX);
    this.location = `dir:${this.#dir}`;
  }

  async write(checkpoint: AuditCheckpoint): Promise<string> {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator configures the checkpoint directory
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const name = auditCheckpointName(checkpoint);
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator configures the checkpoint directory
    const file = await open(join(this.#dir, name), 'wx', 0o444);
    try {
      await file.writeFile(`${JSON.stringify(checkpoint)}\n`, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    return `${AUDIT_CHECKPOINT_PREFIX}${name}`;
  }

  async latest(atMostSeq?: string): Promise<StoredAuditCheckpoint | undefined> {
    let names: string[];
    try {
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator configures the checkpoint directory
      names = await readdir(this.#dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const newest = newestCheckpointName(names, atMostSeq);
    if (newest === undefined) return undefined;
    const key = `${AUDIT_CHECKPOINT_PREFIX}${newest}`;
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator configures the checkpoint directory
    return { key, checkpoint: parseAuditCheckpoint(key, await readFile(join(this.#dir, newest), 'utf8')) };
  }
}

/** Builds, signs when `signingKey` is given, and writes a checkpoint of the chain head; returns its key. */
export async function writeAuditCheckpoint(
  store: AuditCheckpointStore,
  head: { readonly seq: string; readonly hash: string | null; readonly rows: number },
  source: string,
  signingKey?: string,
  now: Date = new Date(),
): Promise<{ readonly key: string; readonly checkpoint: AuditCheckpoint }> {
  const plain: AuditCheckpoint = {
    seq: head.seq,
    hash: head.hash,
    rows: head.rows,
    takenAt: now.toISOString(),
    source,
  };
  const checkpoint = signingKey === undefined ? plain : signAuditCheckpoint(plain, signingKey);
  return { key: await store.write(checkpoint), checkpoint };
}

/** A client that runs plain SQL (pg's Client or Pool). */
interface SqlClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * Checks with two indexed reads, not a walk of the chain, that the log still holds `checkpoint`: its row with its
 * hash, and at least its row count up to it. Returns why not, or undefined when it holds. A backup runs it before
 * writing a checkpoint of its own, so a cut chain is never blessed by a newer checkpoint.
 */
export async function checkpointHolds(client: SqlClient, checkpoint: AuditCheckpoint): Promise<string | undefined> {
  if (checkpoint.seq === '0') return undefined;
  const { rows } = (await client.query(
    `SELECT (SELECT hash FROM audit_logs WHERE id = $1::bigint) AS hash,
            (SELECT count(*) FROM audit_logs WHERE id <= $1::bigint)::text AS rows`,
    [checkpoint.seq],
  )) as { rows: { hash: string | null; rows: string }[] };
  const found = rows[0];
  if (found?.hash === null || found?.hash === undefined)
    return `row ${checkpoint.seq} of the checkpoint is missing: the newest rows were removed`;
  if (found.hash !== checkpoint.hash)
    return `row ${checkpoint.seq} has hash ${found.hash}, the checkpoint recorded ${String(checkpoint.hash)}: the chain was rewritten`;
  if (Number(found.rows) < checkpoint.rows)
    return `${found.rows} rows up to row ${checkpoint.seq}, the checkpoint recorded ${checkpoint.rows}: rows were removed`;
  return undefined;
}
