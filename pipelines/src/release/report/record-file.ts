import { readFileSync } from 'node:fs';

import { z } from 'zod';

import { EXIT, ReleaseError } from '../errors.js';
import type { ReleaseRecord } from '../release-record.js';

const isoTime = z.iso.datetime({ offset: true });
const seconds = z.number().nonnegative();

// Loose objects keep fields this schema does not know, so optional fields added to the type survive a report.
const gate = z.looseObject({
  kind: z.enum(['load', 'slo']),
  name: z.string().min(1),
  verdict: z.enum(['passed', 'failed', 'inconclusive']),
  startedAt: isoTime,
  finishedAt: isoTime,
  numbers: z.record(z.string(), z.number()),
  detail: z.string(),
});

const stage = z.looseObject({
  index: z.number().int().positive(),
  weight: z.number().int().min(1).max(100),
  startedAt: isoTime,
  weightAppliedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
  gates: z.array(gate),
});

const versionSeries = z.looseObject({
  digest: z.string().min(1),
  namespace: z.string().min(1),
  podTemplateHash: z.string().min(1),
});

/** The JSON shape of {@link ReleaseRecord}; the assignments below keep the two in step. */
export const releaseRecordSchema = z.looseObject({
  schemaVersion: z.literal(1),
  id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only (it names files)'),
  plan: z.string().min(1),
  profile: z.string().min(1),
  canary: versionSeries,
  stable: versionSeries.optional(),
  startedAt: isoTime,
  finishedAt: isoTime.optional(),
  outcome: z.enum(['running', 'promoted', 'rolled-back', 'refused']),
  reason: z.string().optional(),
  stages: z.array(stage),
  evidence: z
    .object({
      image: z.string().min(1),
      digest: z.string().min(1),
      signerIdentity: z.string(),
      sbom: z.looseObject({ format: z.string(), packages: z.number().int().nonnegative() }),
      scan: z.looseObject({
        verdict: z.string(),
        findings: z.number().int().nonnegative(),
        exceptions: z.array(z.string()),
      }),
    })
    .optional(),
  migrations: z
    .looseObject({
      pending: z.array(z.string()),
      breaking: z.array(z.looseObject({ migration: z.string(), statement: z.string(), reason: z.string() })),
      overridden: z.boolean(),
    })
    .optional(),
  timings: z.looseObject({
    totalSeconds: seconds.optional(),
    failedVerdictAfterTrafficSeconds: seconds.optional(),
    rollbackSeconds: seconds.optional(),
    droppedRequests: z.number().int().nonnegative().optional(),
  }),
  prometheusUrl: z.string().optional(),
});

// Compile-time check both ways: a schema that drifts from the type stops the build.
type Mutable<T> = T extends readonly (infer U)[]
  ? Mutable<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: Mutable<T[K]> }
    : T;
type Parsed = z.infer<typeof releaseRecordSchema>;
export const parsedIsRecord = (parsed: Parsed): ReleaseRecord => parsed;
export const recordIsParsed = (record: Mutable<ReleaseRecord>): Parsed => record;

/** Checks parsed JSON against the record's shape; `where` names its source in the error. */
export function parseReleaseRecord(value: unknown, where: string): ReleaseRecord {
  const result = releaseRecordSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues
      .slice(0, 8)
      .map((issue) => `${issue.path.length === 0 ? '(top)' : issue.path.join('.')}: ${issue.message}`);
    throw new ReleaseError(
      `${where} is not a release record: ${problems.join('; ')}`,
      'pass the JSON record a release wrote (its shape is ReleaseRecord in pipelines/src/release/release-record.ts)',
      EXIT.usage,
    );
  }
  return result.data;
}

/** Reads and checks a release record file. */
export function readReleaseRecord(path: string): ReleaseRecord {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ReleaseError(
      `release record ${path} cannot be read (${code})`,
      code === 'ENOENT'
        ? 'pass the path of a record a release wrote, e.g. .local/release/releases/<id>.json'
        : 'check the path and its permissions',
      EXIT.usage,
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ReleaseError(
      `release record ${path} is not JSON: ${(error as Error).message}`,
      'pass the JSON record a release wrote, unedited',
      EXIT.usage,
      { cause: error },
    );
  }
  return parseReleaseRecord(value, `release record ${path}`);
}
