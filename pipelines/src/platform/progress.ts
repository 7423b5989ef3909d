/** Progress lines for long work; tests pass a silent or collecting one. */
export interface Progress {
  step: (message: string) => void;
  ok: (message: string) => void;
  warn: (message: string) => void;
}

export const consoleProgress: Progress = {
  step: (message) => process.stdout.write(`▸ ${message}\n`),
  ok: (message) => process.stdout.write(`✓ ${message}\n`),
  warn: (message) => process.stderr.write(`! ${message}\n`),
};

export const silentProgress: Progress = { step: () => undefined, ok: () => undefined, warn: () => undefined };

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
