/**
 * `npm run preview -- <stack>`: `pulumi preview` of one stack with the policy pack, when the tools and
 * credentials are there; otherwise one line per missing thing and how to get it, and exit code 1.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ENVIRONMENTS } from './config.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Environment {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home: string;
}

function onPath(command: string, path: string | undefined): boolean {
  return (path ?? '').split(delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function loggedInToPulumi(home: string): boolean {
  const file = join(home, '.pulumi', 'credentials.json');
  if (!existsSync(file)) return false;
  try {
    const credentials = JSON.parse(readFileSync(file, 'utf8')) as { current?: unknown };
    return typeof credentials.current === 'string' && credentials.current !== '';
  } catch {
    return false;
  }
}

/** One line per missing prerequisite: what is missing, and how to get it. Empty when all are there. */
export function missingPrerequisites({ env, home }: Environment): string[] {
  const missing: string[] = [];
  if (!onPath('pulumi', env.PATH))
    missing.push(
      'pulumi CLI: not found on PATH. Install it: curl -fsSL https://get.pulumi.com | sh (https://www.pulumi.com/docs/install/)',
    );
  const backend =
    (env.PULUMI_ACCESS_TOKEN ?? '') !== '' || (env.PULUMI_BACKEND_URL ?? '') !== '' || loggedInToPulumi(home);
  if (!backend)
    missing.push(
      'Pulumi state backend: not logged in. Set PULUMI_ACCESS_TOKEN (https://app.pulumi.com/account/tokens) ' +
        'or run: pulumi login s3://<state-bucket> (see infra/README.md)',
    );
  const aws =
    ((env.AWS_ACCESS_KEY_ID ?? '') !== '' && (env.AWS_SECRET_ACCESS_KEY ?? '') !== '') ||
    (env.AWS_PROFILE ?? '') !== '' ||
    (env.AWS_WEB_IDENTITY_TOKEN_FILE ?? '') !== '' ||
    existsSync(join(home, '.aws', 'credentials')) ||
    existsSync(join(home, '.aws', 'config'));
  if (!aws)
    missing.push(
      'AWS credentials: none found in the environment or ~/.aws. Run: aws configure sso ' +
        '(or export AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
    );
  return missing;
}

export function main(args: readonly string[], environment: Environment): number {
  const [stack, ...rest] = args;
  if (stack === undefined || !(ENVIRONMENTS as readonly string[]).includes(stack)) {
    console.error(
      `preview: ${stack === undefined ? 'no stack given' : `unknown stack "${stack}"`}: ` +
        `use one of ${ENVIRONMENTS.join(', ')}, for example: npm run preview -- staging`,
    );
    return 2;
  }
  const missing = missingPrerequisites(environment);
  if (missing.length > 0) {
    console.error(`preview ${stack}: cannot run pulumi preview; missing:`);
    for (const line of missing) console.error(`  - ${line}`);
    return 1;
  }
  const result = spawnSync(
    'pulumi',
    ['preview', '--stack', stack, '--policy-pack', join(REPO_ROOT, 'policies'), '--diff', ...rest],
    { cwd: REPO_ROOT, stdio: 'inherit' },
  );
  return result.status ?? 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1])
  process.exitCode = main(process.argv.slice(2), { env: process.env, home: homedir() });
