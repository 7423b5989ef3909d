import { readFileSync } from 'node:fs';

import { parse } from 'yaml';
import { z } from 'zod';

import { EXIT, ReleaseError } from './errors.js';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One problem a scanner reported, in the gate's common shape. */
export interface Finding {
  /** Advisory, rule or check id (GHSA-…, a gitleaks rule, licence:<expression>, CKV_…). */
  readonly id: string;
  readonly scanner: string;
  readonly severity: Severity;
  /** What the finding is about: a purl, a file path, a layer path. */
  readonly target: string;
  readonly title: string;
}

const MAX_EXCEPTION_DAYS = 90;
const DAY = 86_400_000;

const exceptionSchema = z.object({
  id: z.string().min(1),
  scope: z.string().min(1),
  reason: z.string().min(10, { error: 'must say why, in at least 10 characters' }),
  owner: z.string().min(1),
  expires: z.iso.date({ error: 'must be a date, YYYY-MM-DD' }),
});
export type ScanException = z.infer<typeof exceptionSchema>;

export const scanPolicySchema = z.object({
  blockSeverities: z.array(z.enum(SEVERITIES)).min(1),
  allowedLicences: z.array(z.string().min(1)).min(1),
  allowedLicenceExpressions: z.array(z.string().min(1)),
  /**
   * checkov checks that do not apply here, each with the reason (reviewed with the policy); with `resources`, only
   * for those Kubernetes objects (`Kind.namespace.name`, a trailing `*` matching a generated suffix).
   */
  checkovSkipChecks: z.array(
    z.object({
      id: z.string().regex(/^CKV2?_[A-Z0-9_]+$/),
      reason: z.string().min(10),
      resources: z
        .array(z.string().regex(/^[A-Za-z]+\.[a-z0-9-]+\.[a-z0-9.-]+\*?$/, 'must be Kind.namespace.name'))
        .min(1)
        .optional(),
    }),
  ),
});
export type ScanPolicy = z.infer<typeof scanPolicySchema>;

function parseFile<T>(file: string, schema: z.ZodType<T>): T {
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ReleaseError(`${file} is not readable YAML: ${(error as Error).message}`, 'fix the file', EXIT.usage);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ReleaseError(
      `${file}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is invalid'}`,
      'fix that entry; see the comment at the top of the file',
      EXIT.usage,
    );
  }
  return parsed.data;
}

export const readScanPolicy = (file: string): ScanPolicy => parseFile(file, scanPolicySchema);

/** The exceptions file, checked: every field present, no expiry further than 90 days from `now`. */
export function readExceptions(file: string, now: Date): ScanException[] {
  const { exceptions } = parseFile(file, z.object({ exceptions: z.array(exceptionSchema) }));
  for (const [index, exception] of exceptions.entries()) {
    const days = (Date.parse(`${exception.expires}T00:00:00Z`) - now.getTime()) / DAY;
    if (days > MAX_EXCEPTION_DAYS) {
      throw new ReleaseError(
        `${file}: exceptions.${String(index)} (${exception.id}) expires ${exception.expires}, more than ${String(MAX_EXCEPTION_DAYS)} days from now`,
        `set expires to ${new Date(now.getTime() + MAX_EXCEPTION_DAYS * DAY).toISOString().slice(0, 10)} or earlier`,
        EXIT.usage,
      );
    }
  }
  return exceptions;
}

export type Disposition = 'blocks' | 'excepted' | 'expired-exception' | 'reported';

export interface GateRow {
  readonly finding: Finding;
  readonly disposition: Disposition;
  readonly exception?: ScanException;
}

export interface GateResult {
  readonly verdict: 'pass' | 'fail';
  readonly rows: readonly GateRow[];
  readonly unusedExceptions: readonly ScanException[];
  readonly warnings: readonly string[];
}

/** Decides: a blocking finding fails the gate unless a live exception covers its id and scope. */
export function decide(
  findings: readonly Finding[],
  exceptions: readonly ScanException[],
  policy: ScanPolicy,
  now: Date,
): GateResult {
  const used = new Set<ScanException>();
  const warnings: string[] = [];
  const rows = findings.map((finding): GateRow => {
    const exception = exceptions.find((e) => e.id === finding.id && e.scope === finding.target);
    if (exception) used.add(exception);
    if (!policy.blockSeverities.includes(finding.severity)) return { finding, disposition: 'reported' };
    if (!exception) return { finding, disposition: 'blocks' };
    if (Date.parse(`${exception.expires}T23:59:59Z`) < now.getTime()) {
      return { finding, disposition: 'expired-exception', exception };
    }
    warnings.push(
      `${finding.id} on ${finding.target} passes by exception until ${exception.expires} (${exception.owner}: ${exception.reason})`,
    );
    return { finding, disposition: 'excepted', exception };
  });
  const unusedExceptions = exceptions.filter((e) => !used.has(e));
  for (const e of unusedExceptions) warnings.push(`exception ${e.id} for ${e.scope} matched no finding: remove it`);
  const verdict = rows.some((row) => row.disposition === 'blocks' || row.disposition === 'expired-exception')
    ? 'fail'
    : 'pass';
  return { verdict, rows, unusedExceptions, warnings };
}

/** The result as a table people read. */
export function gateTable(result: GateResult): string {
  const header = ['disposition', 'severity', 'scanner', 'id', 'target'];
  const body = result.rows.map((row) => [
    row.disposition === 'expired-exception'
      ? `blocks (exception expired ${row.exception?.expires ?? ''})`
      : row.disposition,
    row.finding.severity,
    row.finding.scanner,
    row.finding.id,
    row.finding.target,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    ...body.map(line),
    '',
    `verdict: ${result.verdict}`,
    ...result.warnings.map((w) => `warning: ${w}`),
  ].join('\n');
}

const SARIF_LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  critical: 'error',
  high: 'error',
  medium: 'warning',
  low: 'note',
  info: 'note',
};

/** SARIF 2.1.0, one run per scanner, for GitHub code scanning. */
export function gateSarif(result: GateResult): unknown {
  const scanners = [...new Set(result.rows.map((r) => r.finding.scanner))].sort();
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: scanners.map((scanner) => {
      const rows = result.rows.filter((r) => r.finding.scanner === scanner);
      return {
        tool: {
          driver: {
            name: scanner,
            informationUri: 'https://github.com/slipway/slipway/blob/main/SECURITY.md',
            rules: [
              ...new Map(
                rows.map((r) => [r.finding.id, { id: r.finding.id, shortDescription: { text: r.finding.title } }]),
              ).values(),
            ],
          },
        },
        results: rows.map((r) => ({
          ruleId: r.finding.id,
          level: SARIF_LEVEL[r.finding.severity],
          message: { text: `${r.finding.title} (${r.finding.target}): ${r.disposition}` },
          locations: [{ physicalLocation: { artifactLocation: { uri: r.finding.target } } }],
          ...(r.exception ? { suppressions: [{ kind: 'external', justification: r.exception.reason }] } : {}),
        })),
      };
    }),
  };
}
