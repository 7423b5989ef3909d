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

export interface RssSampler {
  /** Stops sampling; the largest RSS seen in MB (1 MB = 1024 kB), or undefined if none was read. */
  stop(): number | undefined;
}

/** Samples a process's RSS every intervalMs (and once at start and stop), keeping the maximum. */
export function sampleMaxRss(pid: number, intervalMs = 200): RssSampler {
  let maxKb: number | undefined;
  const sample = (): void => {
    const kb = readRssKb(pid);
    if (kb !== undefined && (maxKb === undefined || kb > maxKb)) maxKb = kb;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop(): number | undefined {
      clearInterval(timer);
      sample();
      return maxKb === undefined ? undefined : maxKb / 1024;
    },
  };
}
