/**
 * Regenerates the README's picture of a release report from a real rehearsal: the README quickstart's three commands
 * (npm start; build, scan and sign; deploy) on a platform of their own (scope `readme`, every port moved to a free
 * one), then the report that deploy wrote, rendered by Debian's Chromium, then npm stop.
 *
 *   npm run readme:screenshot -- [--osv-db <dir>] [--main-ref <ref>]
 *
 * --osv-db scans offline (as the tests do on a machine without the network); --main-ref lets a branch not yet on
 * main pass verify. Both go to the release commands as they are.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

import { ALL_PORT_VARIABLES, RUNNING_FOOTER } from '../../platform/local.js';
import { repoRoot } from '../../platform/paths.js';
import { freePort } from '../../platform/ports.js';
import { consoleProgress } from '../../platform/progress.js';
import { imageByName } from '../images.js';
import { readBuildRecord } from '../record.js';

/** Where the README takes its picture from. */
export const README_SCREENSHOT = join(repoRoot, 'docs', 'release-report.png');
const CHROMIUM = '/usr/bin/chromium';
const SCOPE = 'readme';

function npm(args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn('npm', ['--silent', ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs one npm command to its end, echoing its output; rejects when it exits non-zero. */
function step(args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  consoleProgress.step(`npm ${args.join(' ')}`);
  const child = npm(args, env);
  let output = '';
  const echo = (chunk: Buffer): void => {
    output += chunk.toString();
    process.stdout.write(chunk);
  };
  child.stdout?.on('data', echo);
  child.stderr?.on('data', echo);
  return new Promise((resolve, reject) => {
    child.once('close', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`npm ${args.join(' ')} exited ${String(code)}`)),
    );
  });
}

/** `npm start` in the background, resolved once it prints that everything runs. */
function startPlatform(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  consoleProgress.step('npm start');
  const child = npm(['start'], env);
  let output = '';
  let running = false;
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (running) return;
      output += chunk.toString();
      if (output.includes(RUNNING_FOOTER)) {
        running = true;
        process.stdout.write(output);
        resolve(child);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`npm start exited ${String(code)}:\n${output}`)));
  });
}

async function screenshot(html: string, png: string): Promise<void> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: run scripts/bootstrap (it installs Debian's chromium package)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    mkdirSync(dirname(png), { recursive: true });
    await page.screenshot({ path: png, fullPage: true });
  } finally {
    await browser.close();
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { 'osv-db': { type: 'string' }, 'main-ref': { type: 'string' } },
  });
  // the README's commands need no other variable: drop any a caller's shell may hold
  const dropped = new Set(['RATE_LIMIT_PER_MINUTE', 'TRUST_PROXY', 'SLIPWAY_REGISTRY']);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !dropped.has(name)));
  const env: NodeJS.ProcessEnv = { ...inherited, SLIPWAY_SCOPE: SCOPE };
  for (const variable of ALL_PORT_VARIABLES) env[variable] = String(await freePort());
  const platform = await startPlatform(env);
  try {
    await step(['run', 'release', '--', 'build', '--image', 'erp-api'], env);
    const osvDb = values['osv-db'];
    await step(['run', 'release', '--', 'scan', '--image', 'erp-api', ...(osvDb ? ['--osv-db', osvDb] : [])], env);
    await step(['run', 'release', '--', 'sign', '--image', 'erp-api'], env);
    const { digest } = readBuildRecord(imageByName('erp-api').name);
    const mainRef = values['main-ref'];
    const deployed = await step(
      ['run', 'release', '--', 'deploy', digest, ...(mainRef ? ['--main-ref', mainRef] : [])],
      env,
    );
    const report = /^report: (.+\.html)$/m.exec(deployed)?.[1];
    if (report === undefined) throw new Error('deploy printed no report: line');
    await screenshot(report, README_SCREENSHOT);
    consoleProgress.ok(`${relative(repoRoot, README_SCREENSHOT)} from ${relative(repoRoot, report)}`);
  } finally {
    await step(['stop'], env).catch((error: unknown) => consoleProgress.warn(String(error)));
    platform.kill('SIGTERM');
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`readme screenshot: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
