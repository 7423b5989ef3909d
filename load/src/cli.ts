/**
 * Runs one scenario against TARGET_URL and exits with the gate's verdict: 0 pass, 1 thresholds failed (the target is
 * worse), 2 inconclusive (unreachable, too few answers, the engine failed, a bad setting, a timeout).
 *   TARGET_URL=http://127.0.0.1:8080 npx tsx load/src/cli.ts [scenario]     (default canary-gate)
 * STABLE_URL compares the canary's p99 with the stable version's; SUMMARY_DIR keeps <scenario>.json and .md
 * (default a temporary folder); GATE_TIMEOUT_SECONDS (default 300) stops a run that hangs.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { GATE_EXIT, runGate } from './gate.js';

const scenario = process.argv[2] ?? 'canary-gate';
const timeoutRaw = process.env.GATE_TIMEOUT_SECONDS ?? '300';
if (!/^\d{1,5}$/.test(timeoutRaw) || Number(timeoutRaw) < 1) {
  process.stderr.write(
    `error: GATE_TIMEOUT_SECONDS=${JSON.stringify(timeoutRaw)} is not valid: use a whole number of seconds, at least 1\n`,
  );
  process.exit(GATE_EXIT.inconclusive);
}
const targetUrl = process.env.TARGET_URL ?? '';
const summaryDir = process.env.SUMMARY_DIR ?? mkdtempSync(join(tmpdir(), 'slipway-gate-'));
const stableUrl = process.env.STABLE_URL;
const result = await runGate({
  scenario,
  targetUrl,
  ...(stableUrl === undefined || stableUrl === '' ? {} : { stableUrl }),
  env: process.env,
  summaryDir,
  timeoutMs: Number(timeoutRaw) * 1000,
  progress: (line) => process.stderr.write(`▸ ${line}\n`),
});
try {
  process.stdout.write(readFileSync(result.markdownPath, 'utf8'));
} catch {
  // nothing was measured; the reason says why
}
process.stdout.write(`\n${result.verdict.toUpperCase()} (exit ${result.exitCode}): ${result.reason}\n`);
process.exit(result.exitCode);
