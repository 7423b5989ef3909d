/**
 * The functions with the most self time in a V8 .cpuprofile (from `node --cpu-prof`), as a table.
 * Usage: npx tsx load/src/bench/profile-top.ts <file.cpuprofile> [rows]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time per function (name, file and line), in milliseconds, largest first. */
export function selfTimes(
  profile: CpuProfile,
): { readonly name: string; readonly ms: number; readonly share: number }[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    const frame = byNode.get(id)?.callFrame;
    const file = frame?.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/app\/dist\//, 'app/dist/') ?? '';
    const functionName =
      frame?.functionName === undefined || frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const name = `${functionName} ${file}:${(frame?.lineNumber ?? 0) + 1}`;
    totals.set(name, (totals.get(name) ?? 0) + micros);
    all += micros;
  });
  return [...totals.entries()]
    .map(([name, micros]) => ({ name, ms: micros / 1000, share: all === 0 ? 0 : micros / all }))
    .sort((a, b) => b.ms - a.ms);
}

const [file, rows = '25'] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: npx tsx load/src/bench/profile-top.ts <file.cpuprofile> [rows]\n');
  process.exit(64);
}
const top = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile).slice(0, Number(rows));
for (const { name, ms, share } of top) {
  process.stdout.write(`${(share * 100).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(7)} ms  ${name}\n`);
}
