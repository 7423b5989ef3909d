/**
 * Spike: the production-like mix at SPIKE_BASE_RATE requests per second (default 100) for SPIKE_WARM (30s), up to
 * SPIKE_PEAK_RATE (2000) within SPIKE_RAMP (10s), held for SPIKE_HOLD (30s), back down within SPIKE_RAMP, then
 * SPIKE_RECOVERY (60s) at the base rate, judged in windows of SPIKE_WINDOW (5s). The recovery time is how long after
 * the rate is back at base until every later window's p99 is within 25 % (or 5 ms) of the warm-up's.
 */
import type { Findings, FindingsInput, Scenario } from '../engine/model.js';
import { durationMs, wholeNumber, type Env } from '../engine/settings.js';
import { MIX } from './erp-api.js';

const TOLERANCE_SHARE = 1.25;
const TOLERANCE_MS = 5;

interface SpikeTimes {
  readonly warmMs: number;
  readonly rampMs: number;
  readonly holdMs: number;
  readonly recoveryMs: number;
  readonly windowMs: number;
}

export function spikeFindings(times: SpikeTimes, { window, phases }: FindingsInput): Findings {
  // phases start a little late (one attack after the other): the windows follow the recovery phase's real start
  const recoveryStart =
    phases.find((outcome) => outcome.phase.label === 'recovery')?.startedAtMs ??
    times.warmMs + 2 * times.rampMs + times.holdMs;
  const warmEnd = phases.find((outcome) => outcome.phase.label === 'spike')?.startedAtMs ?? times.warmMs;
  const warm = window(0, warmEnd);
  const spikeWindow = window(warmEnd, recoveryStart);
  const baselineP99 = warm.p99Ms ?? 0;
  const limitMs = Math.max(baselineP99 * TOLERANCE_SHARE, baselineP99 + TOLERANCE_MS);
  const count = Math.max(1, Math.ceil(times.recoveryMs / times.windowMs));
  const windows = Array.from({ length: count }, (_, index) => {
    const from = recoveryStart + index * times.windowMs;
    const measured = window(from, Math.min(from + times.windowMs, recoveryStart + times.recoveryMs));
    return { startsAtSeconds: (index * times.windowMs) / 1000, p99Ms: measured.p99Ms, errorRate: measured.errorRate };
  });
  // the first window from which every later one is back within the limit
  let recoveredFrom: number | undefined;
  for (let index = windows.length - 1; index >= 0; index--) {
    const p99 = windows[index]?.p99Ms;
    if (p99 === null || p99 === undefined || p99 > limitMs) break;
    recoveredFrom = index;
  }
  const recoverySeconds = recoveredFrom === undefined ? null : (recoveredFrom * times.windowMs) / 1000;
  return {
    values: {
      baselineP99Ms: baselineP99,
      spikeP99Ms: spikeWindow.p99Ms,
      recoveryLimitMs: limitMs,
      recoverySeconds,
      windowSeconds: times.windowMs / 1000,
      recoveryWindows: windows,
    },
    line:
      recoverySeconds === null
        ? `p99 not back within ${limitMs.toFixed(1)} ms (warm-up p99 ${baselineP99.toFixed(1)} ms) by the end of ${times.recoveryMs / 1000} s of recovery`
        : `recovered to the warm-up p99 (${baselineP99.toFixed(1)} ms, limit ${limitMs.toFixed(1)} ms) ${recoverySeconds} s after the rate came back down; spike p99 ${(spikeWindow.p99Ms ?? 0).toFixed(1)} ms`,
  };
}

export function spike(env: Env): Scenario {
  const baseRate = wholeNumber(env, 'SPIKE_BASE_RATE', 100);
  const peakRate = wholeNumber(env, 'SPIKE_PEAK_RATE', 2000);
  const times: SpikeTimes = {
    warmMs: durationMs(env, 'SPIKE_WARM', '30s'),
    rampMs: durationMs(env, 'SPIKE_RAMP', '10s'),
    holdMs: durationMs(env, 'SPIKE_HOLD', '30s'),
    recoveryMs: durationMs(env, 'SPIKE_RECOVERY', '60s'),
    windowMs: durationMs(env, 'SPIKE_WINDOW', '5s'),
  };
  return {
    name: 'spike',
    description: 'a sudden burst of the mix and the time to recover from it',
    products: wholeNumber(env, 'SPIKE_PRODUCTS', 20),
    users: wholeNumber(env, 'SPIKE_USERS', 10),
    flows: [
      {
        name: 'spike',
        arrival: {
          model: 'ramp',
          startRate: baseRate,
          stages: [
            { rate: baseRate, durationMs: times.warmMs, label: 'warm' },
            { rate: peakRate, durationMs: times.rampMs, label: 'spike' },
            { rate: peakRate, durationMs: times.holdMs, label: 'spike' },
            { rate: baseRate, durationMs: times.rampMs, label: 'spike' },
            { rate: baseRate, durationMs: times.recoveryMs, label: 'recovery' },
          ],
        },
        mix: MIX,
      },
    ],
    // a spike may break the SLOs; the recovery time is what it reports
    thresholds: {},
    findings: (input) => spikeFindings(times, input),
  };
}
