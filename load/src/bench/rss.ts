import { readFileSync } from 'node:fs';

/** Resident set size of a live process in kB, from /proc/<pid>/status (Linux); undefined once it is gone. */
export function readRssKb(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  return parseVmRssKb(status);
}

/** The VmRSS line of a /proc/<pid>/status text, in kB. */
export function parseVmRssKb(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export interface RssSample {
  /** Milliseconds since sampling started. */
  readonly atMs: number;
  readonly mb: number;
}

export interface RssSampler {
  /** Stops sampling; the largest RSS seen in MB (1 MB = 1024 kB), or undefined if none was read. */
  stop(): number | undefined;
  /** Every sample so far, oldest first. */
  samples(): readonly RssSample[];
}

/** Samples a process's RSS every intervalMs (and once at start and stop), keeping the maximum. */
export function sampleMaxRss(pid: number, intervalMs = 200): RssSampler {
  let maxKb: number | undefined;
  const started = Date.now();
  const series: RssSample[] = [];
  const sample = (): void => {
    const kb = readRssKb(pid);
    if (kb === undefined) return;
    series.push({ atMs: Date.now() - started, mb: kb / 1024 });
    if (maxKb === undefined || kb > maxKb) maxKb = kb;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop(): number | undefined {
      clearInterval(timer);
      sample();
      return maxKb === undefined ? undefined : maxKb / 1024;
    },
    samples: () => series,
  };
}

/**
 * How much the RSS grew across a soak: the median of the samples in its last fifth over the median of those in its
 * first fifth, minus 1 (0.05 is 5 % growth). Startup aside, the first fifth is already warm (pools, caches, JIT).
 * Undefined with fewer than 10 samples.
 */
export function rssGrowth(samples: readonly RssSample[]): number | undefined {
  if (samples.length < 10) return undefined;
  const fifth = Math.floor(samples.length / 5);
  const middle = (values: number[]): number => {
    const sorted = values.sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  const first = middle(samples.slice(0, fifth).map((sample) => sample.mb));
  const last = middle(samples.slice(-fifth).map((sample) => sample.mb));
  return last / first - 1;
}
