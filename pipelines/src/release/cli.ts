import { parseArgs } from 'node:util';

import { PlatformError } from '../platform/errors.js';
import { consoleProgress, type Progress, seconds, silentProgress } from '../platform/progress.js';
import { buildBase, lockBase } from './base.js';
import { EXIT, type ExitCode, ReleaseError } from './errors.js';
import { buildImage, IMAGES, imageByName, type BuiltImage } from './images.js';

export const USAGE = `usage: npm run release -- <command> [options]

commands
  build        build the base image from its lock, then each image reproducibly (buildah), as OCI layouts
  lock-base    resolve the base image's Debian packages and Node.js again and rewrite base-image.lock.json

options
  --image <name>   only this image (default: all of ${IMAGES.map((i) => i.name).join(', ')})
  --json           print one JSON document on stdout instead of progress lines
  -h, --help       this text

exit codes
  0 done · 1 refused (gate or verification) · 2 bad command line or input · 3 tool or service missing · 4 failed`;

interface Parsed {
  readonly command: string;
  readonly json: boolean;
  readonly images: readonly string[];
}

export function parseCommandLine(argv: readonly string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        image: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new ReleaseError((error as Error).message, `see the usage:\n${USAGE}`, EXIT.usage);
  }
  const [command = '', ...extra] = parsed.positionals;
  if (parsed.values.help) return { command: 'help', json: false, images: [] };
  if (!['build', 'lock-base'].includes(command) || extra.length > 0) {
    throw new ReleaseError(
      `unknown command ${JSON.stringify([command, ...extra].join(' '))}`,
      `use one of build, lock-base (npm run release -- --help)`,
      EXIT.usage,
    );
  }
  const images = (parsed.values.image ?? []).map((name) => imageByName(name).name);
  return { command, json: parsed.values.json, images };
}

async function buildAll(images: readonly string[], progress: Progress): Promise<BuiltImage[]> {
  const base = await buildBase(progress);
  const built: BuiltImage[] = [];
  for (const image of images.length > 0 ? images.map(imageByName) : IMAGES) {
    built.push(await buildImage(image, base, progress));
  }
  return built;
}

export async function main(argv: readonly string[], out = process.stdout): Promise<ExitCode> {
  let json = argv.includes('--json');
  const started = Date.now();
  try {
    const parsed = parseCommandLine(argv);
    json = parsed.json;
    const progress = json ? silentProgress : consoleProgress;
    if (parsed.command === 'help') {
      out.write(`${USAGE}\n`);
      return EXIT.ok;
    }
    if (parsed.command === 'lock-base') {
      const lock = await lockBase(progress);
      if (json) out.write(`${JSON.stringify({ command: 'lock-base', ok: true, lock })}\n`);
      return EXIT.ok;
    }
    const built = await buildAll(parsed.images, progress);
    if (json) {
      out.write(
        `${JSON.stringify({ command: 'build', ok: true, images: built, seconds: (Date.now() - started) / 1000 })}\n`,
      );
    } else {
      out.write(`\n${'image'.padEnd(24)} ${'tag'.padEnd(16)} digest\n`);
      for (const image of built) out.write(`${image.name.padEnd(24)} ${image.tag.padEnd(16)} ${image.digest}\n`);
      out.write(`build done in ${seconds(Date.now() - started)}\n`);
    }
    return EXIT.ok;
  } catch (error) {
    const code: ExitCode = error instanceof ReleaseError ? error.exitCode : EXIT.failed;
    const formatted =
      error instanceof PlatformError
        ? { error: error.message, fix: error.fix }
        : {
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
            fix: 'report this as a bug',
          };
    if (json) out.write(`${JSON.stringify({ ok: false, exitCode: code, ...formatted })}\n`);
    else process.stderr.write(`error: ${formatted.error}\n  fix: ${formatted.fix}\n`);
    return code;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  process.exitCode = await main(process.argv.slice(2));
}
