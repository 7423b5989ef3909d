/**
 * Soak: the production-like mix at SOAK_RATE requests per second (default 50) for SOAK_DURATION (default 2m; the long
 * setting is SOAK_DURATION=2h), plus sign-ins at LOGIN_RATE (default 1/s), each virtual user renewing its session every
 * 10 minutes (tokens live 15). Thresholds are the SLOs; it samples the target's RSS from its /metrics every second and
 * reports the growth: the median of the last fifth of the run over the first fifth's.
 */
import type { FindingsInput, Findings, Scenario } from '../engine/model.js';
import type { Env } from '../engine/settings.js';
import { median } from '../bench/stats.js';
import { steadyMix } from './erp-api.js';

/** RSS growth from the first fifth of the samples to the last; undefined with fewer than 10 samples. */
export function rssGrowthOf(samples: readonly { rssMb: number }[]): number | undefined {
  if (samples.length < 10) return undefined;
  const fifth = Math.floor(samples.length / 5);
  const first = median(samples.slice(0, fifth).map((sample) => sample.rssMb));
  const last = median(samples.slice(-fifth).map((sample) => sample.rssMb));
  return first === 0 ? undefined : last / first - 1;
}

export function soakFindings({ memory }: FindingsInput): Findings {
  const growth = rssGrowthOf(memory);
  return {
    values: {
      rssGrowth: growth ?? null,
      rssSamples: memory.length,
      rssFirstMb: memory[0]?.rssMb ?? null,
      rssLastMb: memory.at(-1)?.rssMb ?? null,
    },
    line:
      growth === undefined
        ? `RSS growth not measured: ${memory.length} samples of process_resident_memory_bytes from the target's /metrics (10 needed)`
        : `RSS grew ${(growth * 100).toFixed(2)} % from the first fifth of the run to the last (${memory.length} samples)`,
  };
}

export function soak(env: Env): Scenario {
  return {
    ...steadyMix(env, {
      name: 'soak',
      prefix: 'SOAK',
      rate: 50,
      duration: '2m',
      description: 'the production-like mix held long, watching the target’s memory',
    }),
    sampleTargetMemory: true,
    findings: soakFindings,
  };
}
