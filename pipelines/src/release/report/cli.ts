import { dirname } from 'node:path';

import { EXIT, type ExitCode, parseReleaseArgs, ReleaseError } from '../errors.js';
import { readReleaseRecord } from './record-file.js';
import { writeReleaseReport } from './report.js';

export const REPORT_USAGE = `usage: npm run release -- report <record.json> [--prometheus URL] [--out-dir DIR] [--json]
  writes <id>.json and a self-contained <id>.html (stages, gates, canary-vs-stable charts, evidence, timings)
  --prometheus URL  the Prometheus for the charts (default: the record's prometheusUrl; none: no charts)
  --out-dir DIR     where to write (default: the record file's folder)`;

interface ReportArgs {
  readonly recordFile: string;
  readonly prometheusUrl?: string;
  readonly outDir?: string;
  readonly json: boolean;
  readonly help?: boolean;
}

export function parseReportArgs(argv: readonly string[]): ReportArgs {
  const parsed = parseReleaseArgs(
    {
      args: [...argv],
      allowPositionals: true,
      options: {
        prometheus: { type: 'string' },
        'out-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    },
    `see the usage:\n${REPORT_USAGE}`,
  );
  if (parsed.values.help) return { recordFile: '', json: false, help: true };
  const [recordFile, ...extra] = parsed.positionals;
  if (recordFile === undefined || extra.length > 0)
    throw new ReleaseError(
      recordFile === undefined
        ? 'report needs the path of a release record'
        : `report takes one record file, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`,
      REPORT_USAGE,
      EXIT.usage,
    );
  return {
    recordFile,
    json: parsed.values.json,
    ...(parsed.values.prometheus === undefined ? {} : { prometheusUrl: parsed.values.prometheus }),
    ...(parsed.values['out-dir'] === undefined ? {} : { outDir: parsed.values['out-dir'] }),
  };
}

/** `npm run release -- report`: renders a release record; errors propagate as ReleaseError to the release CLI. */
export async function reportCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<ExitCode> {
  const args = parseReportArgs(argv);
  if (args.help === true) {
    out.write(`${REPORT_USAGE}\n`);
    return EXIT.ok;
  }
  const record = readReleaseRecord(args.recordFile);
  const written = await writeReleaseReport(record, {
    outDir: args.outDir ?? dirname(args.recordFile),
    ...(args.prometheusUrl === undefined ? {} : { prometheusUrl: args.prometheusUrl }),
  });
  if (args.json) {
    out.write(`${JSON.stringify({ command: 'report', ok: true, ...written })}\n`);
    return EXIT.ok;
  }
  out.write(`report of ${record.id} (${record.outcome})\n  ${written.html}\n  ${written.json}\n`);
  if (written.chartsOmitted !== undefined) out.write(`  no charts: ${written.chartsOmitted}\n`);
  for (const chart of written.charts)
    out.write(
      `  ${chart.title.padEnd(40)} ${Object.entries(chart.points)
        .map(([version, points]) => `${version} ${points} points`)
        .join(', ')}\n`,
    );
  return EXIT.ok;
}
