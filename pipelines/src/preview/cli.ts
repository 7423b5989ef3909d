import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { repoRoot } from '../platform/paths.js';
import { EXIT, type ExitCode, parseReleaseArgs, ReleaseError, reportFailure } from '../release/errors.js';
import { durationSeconds, prometheusBaseUrl } from '../release/report/prometheus.js';
import { previewDashboards } from './dashboards.js';

export const DEFAULT_PREVIEW_FILE = join(repoRoot, '.local', 'dashboards-preview.html');
/** The local platform's Prometheus unless SLIPWAY_PROMETHEUS_URL says otherwise. */
const DEFAULT_PROMETHEUS = 'http://127.0.0.1:9090';

export const PREVIEW_USAGE = `usage: npm run dashboards:preview -- [--prometheus URL] [--out FILE] [--range DURATION] [--json]
  renders every panel of monitoring/generated/dashboards against a Prometheus into one self-contained HTML page
  --prometheus URL   default: $SLIPWAY_PROMETHEUS_URL or ${DEFAULT_PROMETHEUS}
  --out FILE         default: .local/dashboards-preview.html
  --range DURATION   how far back the charts reach (Prometheus duration: 15m, 1h); default 15m
  --json             print the per-panel results as one JSON document`;

interface PreviewArgs {
  readonly prometheusUrl: string;
  readonly out: string;
  readonly rangeSeconds: number;
  readonly json: boolean;
  readonly help: boolean;
}

export function parsePreviewArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): PreviewArgs {
  const parsed = parseReleaseArgs(
    {
      args: [...argv],
      options: {
        prometheus: { type: 'string' },
        out: { type: 'string' },
        range: { type: 'string', default: '15m' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    },
    PREVIEW_USAGE,
  );
  const rangeSeconds = durationSeconds(parsed.values.range);
  if (!(rangeSeconds >= 60))
    throw new ReleaseError(
      `--range ${JSON.stringify(parsed.values.range)} is not a Prometheus duration of a minute or more`,
      'use a duration such as 5m, 15m or 1h',
      EXIT.usage,
    );
  const fromFlag = parsed.values.prometheus;
  const raw = fromFlag ?? env.SLIPWAY_PROMETHEUS_URL ?? DEFAULT_PROMETHEUS;
  return {
    prometheusUrl: prometheusBaseUrl(
      raw,
      fromFlag !== undefined ? '--prometheus' : env.SLIPWAY_PROMETHEUS_URL ? 'SLIPWAY_PROMETHEUS_URL' : 'the default',
    ),
    out: resolve(parsed.values.out ?? DEFAULT_PREVIEW_FILE),
    rangeSeconds,
    json: parsed.values.json,
    help: parsed.values.help,
  };
}

export async function main(
  argv: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<ExitCode> {
  const json = argv.includes('--json');
  try {
    const args = parsePreviewArgs(argv);
    if (args.help) {
      out.write(`${PREVIEW_USAGE}\n`);
      return EXIT.ok;
    }
    const preview = await previewDashboards({
      prometheusUrl: args.prometheusUrl,
      rangeSeconds: args.rangeSeconds,
      onDashboard: (title, panels) => {
        if (!args.json) err.write(`▸ ${title}: ${panels} panels\n`);
      },
    });
    mkdirSync(dirname(args.out), { recursive: true });
    writeFileSync(args.out, preview.html);
    if (args.json) {
      out.write(`${JSON.stringify({ ok: true, file: args.out, panels: preview.panels })}\n`);
      return EXIT.ok;
    }
    const width = Math.max(...preview.panels.map((p) => `${p.dashboard} / ${p.title}`.length));
    out.write(`${'panel'.padEnd(width)}  ${'status'.padEnd(12)} detail\n`);
    for (const panel of preview.panels)
      out.write(`${`${panel.dashboard} / ${panel.title}`.padEnd(width)}  ${panel.status.padEnd(12)} ${panel.detail}\n`);
    out.write(`\n${args.out}\n`);
    return EXIT.ok;
  } catch (error) {
    return reportFailure(error, json, out, err);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  process.exitCode = await main(process.argv.slice(2));
}
