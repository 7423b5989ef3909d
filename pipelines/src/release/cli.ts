import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { repoRoot } from '../platform/paths.js';
import { consoleProgress, type Progress, seconds, silentProgress } from '../platform/progress.js';
import { buildBase, lockBase } from './base.js';
import { deploy, restoreStable } from './canary/executor.js';
import { profileByName } from './canary/profile.js';
import { executorAlive, listRecords, readRecord, readRunning, recordFile, requestControl } from './canary/store.js';
import { LOCAL_HOST, localPort, platformScope } from '../platform/local.js';
import { isAlive } from '../platform/processes.js';
import { RELEASE_PLAN } from './plan.js';
import { EXIT, type ExitCode, parseReleaseArgs, ReleaseError, reportFailure } from './errors.js';
import { ensureSigningKey, KEYLESS, type Signer } from './cosign.js';
import { gateTable } from './gate.js';
import { KEYLESS_IDENTITY } from './identity.js';
import { buildImage, evidenceDir, IMAGES, imageByName, type BuiltImage } from './images.js';
import { readBuildRecord } from './record.js';
import { reportCommand } from './report/cli.js';
import { writeReleaseReport } from './report/report.js';
import { scanImage } from './scan.js';
import { type ScanPredicate, signAndAttest } from './sign.js';
import { verifyImage } from './verify.js';
import { GITOPS_USAGE, gitOpsCommand, isGitOpsCommand, rollbackAfterAbort } from './gitops/cli.js';
import { type Stack, STACKS } from './gitops/environment-file.js';

export const USAGE = `usage: npm run release -- <command> [options]

commands
  build        build the base image from its lock, then each image reproducibly (buildah), as OCI layouts, with SBOMs
  scan         osv-scanner, gitleaks (tree and image layers) and licences, decided by one gate (policies/)
  sign         push each image by digest to the registry, sign it and attest SBOM, scan result and provenance
  verify       check signature, attestations, scan verdict and freshness, and the commit, before anything runs
  lock-base    resolve the base image's Debian packages and Node.js again and rewrite base-image.lock.json
  report       report <record.json> [--prometheus URL] [--out-dir DIR]: a release's JSON and self-contained HTML report
  deploy <ref> take a signed image (<registry>/<repository>@sha256:…, or sha256:… of slipway/erp-api) through the
               release plan on the running local platform (npm start); writes .local/<scope>/releases/<id>.json
  status       the running release's stage, or the last release's outcome
  abort        put all traffic back on stable and stop the canary (also after an executor died)
  promote      (without --to) skip the remaining pauses and gates: send 100 % to the canary and make it stable
${GITOPS_USAGE}

options
  --image <name>   only this image (default: all of ${IMAGES.map((i) => i.name).join(', ')})
  --registry <h:p> the OCI registry (default: $SLIPWAY_REGISTRY, else the one npm start runs: 127.0.0.1:5000 or
                   $SLIPWAY_REGISTRY_PORT)
  --osv-db <dir>   scan offline with this local OSV database (osv-scanner's cache layout); online without it
  --main-ref <ref> verify: the branch a released commit must be on (default: main)
  --certificate-identity <url> --certificate-oidc-issuer <url>
                   verify: accept keyless signatures of this identity (both flags together) instead of the local
                   key; the release workflow's is ${KEYLESS_IDENTITY.subject}
                   issued by ${KEYLESS_IDENTITY.issuer}
  --keyless        sign: keyless with the OIDC identity of the environment (the release workflow in GitHub Actions,
                   with id-token: write) instead of the local key; the transparency log stays on
  --profile <p>    deploy: pause profile, local (default), test or production
  --rollback-pr <stack>
                   deploy: when the release ends rolled back, open the rollback pull request of the stack
  --allow-breaking-migrations
                   deploy: apply migrations that break the stable version sharing the database with the canary
                   (drops, renames, type changes, NOT NULL without a default); recorded in the release record
  --json           print one JSON document on stdout instead of progress lines
  -h, --help       this text

exit codes
  0 done · 1 refused (gate or verification) · 2 bad command line or input · 3 tool or service missing · 4 failed`;

const COMMANDS = ['build', 'scan', 'sign', 'verify', 'lock-base', 'deploy', 'status', 'abort', 'promote'] as const;
type Command = (typeof COMMANDS)[number] | 'help';

interface Parsed {
  readonly command: Command;
  readonly json: boolean;
  readonly images: readonly string[];
  readonly registry: string;
  readonly osvDb?: string;
  readonly mainRef: string;
  /** deploy: the image reference by digest. */
  readonly target?: string;
  readonly profile: string;
  /** sign: keyless with the environment's OIDC identity (the release workflow) instead of the local key. */
  readonly signKeyless?: boolean;
  /** deploy: migrations that break the stable version are applied, not refused. */
  readonly allowBreakingMigrations?: boolean;
  /** verify: a keyless identity; the local key when absent. */
  readonly keyless?: Extract<Signer, { kind: 'keyless' }>;
  /** deploy: the stack whose rollback pull request a rolled-back release opens. */
  readonly rollbackPr?: Stack;
}

function keylessSigner(identity: string | undefined, issuer: string | undefined): Parsed['keyless'] {
  if (identity === undefined && issuer === undefined) return undefined;
  if (identity === undefined || issuer === undefined) {
    throw new ReleaseError(
      `--certificate-identity and --certificate-oidc-issuer go together; got only ${identity === undefined ? `--certificate-oidc-issuer ${issuer ?? ''}` : `--certificate-identity ${identity}`}`,
      `pass both, e.g. --certificate-identity ${KEYLESS_IDENTITY.subject} --certificate-oidc-issuer ${KEYLESS_IDENTITY.issuer}`,
      EXIT.usage,
    );
  }
  for (const [flag, value] of [
    ['--certificate-identity', identity],
    ['--certificate-oidc-issuer', issuer],
  ] as const) {
    if (!URL.canParse(value) || new URL(value).protocol !== 'https:') {
      throw new ReleaseError(
        `${flag} ${JSON.stringify(value)} is not an https:// URL`,
        `pass the workflow identity and issuer as URLs, e.g. ${flag} ${flag === '--certificate-identity' ? KEYLESS_IDENTITY.subject : KEYLESS_IDENTITY.issuer}`,
        EXIT.usage,
      );
    }
  }
  return { kind: 'keyless', identity, issuer };
}

export function parseCommandLine(argv: readonly string[]): Parsed {
  const parsed = parseReleaseArgs(
    {
      args: [...argv],
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        image: { type: 'string', multiple: true },
        registry: { type: 'string' },
        'osv-db': { type: 'string' },
        'main-ref': { type: 'string', default: 'main' },
        'certificate-identity': { type: 'string' },
        'certificate-oidc-issuer': { type: 'string' },
        keyless: { type: 'boolean', default: false },
        profile: { type: 'string', default: 'local' },
        'rollback-pr': { type: 'string' },
        'allow-breaking-migrations': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    },
    `see the usage:\n${USAGE}`,
  );
  const [command = '', ...extra] = parsed.positionals;
  const registry =
    parsed.values.registry ??
    process.env.SLIPWAY_REGISTRY ??
    `${LOCAL_HOST}:${String(localPort(process.env, 'registry'))}`;
  if (parsed.values.help)
    return { command: 'help', json: false, images: [], registry, mainRef: 'main', profile: 'local' };
  const known = COMMANDS.find((c) => c === command);
  const profile = profileByName(parsed.values.profile).name;
  const rollbackPr = parsed.values['rollback-pr'];
  const rollbackStack = STACKS.find((stack) => stack === rollbackPr);
  if (rollbackPr !== undefined && (known !== 'deploy' || rollbackStack === undefined)) {
    throw new ReleaseError(
      `--rollback-pr ${JSON.stringify(rollbackPr)} ${known === 'deploy' ? 'is not a stack' : `applies to deploy, not ${command}`}`,
      `deploy <digest> --rollback-pr <${STACKS.join('|')}>`,
      EXIT.usage,
    );
  }
  if (known === 'deploy') {
    const [target, ...more] = extra;
    const reference = target?.startsWith('sha256:') ? `${registry}/slipway/erp-api@${target}` : target;
    if (reference === undefined || more.length > 0 || !/@sha256:[0-9a-f]{64}$/.test(reference)) {
      throw new ReleaseError(
        `deploy takes one image by digest, got ${JSON.stringify(extra.join(' '))}`,
        'npm run release -- deploy 127.0.0.1:5000/slipway/erp-api@sha256:<64 hex> (as sign printed it), or sha256:<64 hex>',
        EXIT.usage,
      );
    }
    return {
      command: known,
      json: parsed.values.json,
      images: [],
      registry,
      mainRef: parsed.values['main-ref'],
      target: reference,
      profile,
      ...(rollbackStack === undefined ? {} : { rollbackPr: rollbackStack }),
      allowBreakingMigrations: parsed.values['allow-breaking-migrations'],
    };
  }
  if (parsed.values['allow-breaking-migrations']) {
    throw new ReleaseError(
      `--allow-breaking-migrations applies to deploy, not ${command}`,
      'pass it to npm run release -- deploy <ref>',
      EXIT.usage,
    );
  }
  if (known === undefined || extra.length > 0) {
    throw new ReleaseError(
      `unknown command ${JSON.stringify([command, ...extra].join(' '))}`,
      `use one of ${COMMANDS.join(', ')} (npm run release -- --help)`,
      EXIT.usage,
    );
  }
  const osvDb = parsed.values['osv-db'];
  if (osvDb !== undefined && !existsSync(join(osvDb, 'osv-scanner'))) {
    throw new ReleaseError(
      `--osv-db ${osvDb} holds no osv-scanner/ folder`,
      'pass a directory laid out as osv-scanner caches it: <dir>/osv-scanner/<ecosystem>/all.zip',
      EXIT.usage,
    );
  }
  const images = (parsed.values.image ?? []).map((name) => imageByName(name).name);
  const keyless = keylessSigner(parsed.values['certificate-identity'], parsed.values['certificate-oidc-issuer']);
  if (parsed.values.keyless && known !== 'sign') {
    throw new ReleaseError(
      `--keyless applies to sign, not ${known}`,
      'verify a keyless signature with --certificate-identity and --certificate-oidc-issuer',
      EXIT.usage,
    );
  }
  if (keyless !== undefined && known !== 'verify') {
    throw new ReleaseError(
      `--certificate-identity and --certificate-oidc-issuer apply to verify, not ${known}`,
      'sign with the local key, or with --keyless in the release workflow',
      EXIT.usage,
    );
  }
  return {
    command: known,
    json: parsed.values.json,
    images,
    registry,
    ...(osvDb === undefined ? {} : { osvDb: resolve(osvDb) }),
    mainRef: parsed.values['main-ref'],
    ...(keyless === undefined ? {} : { keyless }),
    signKeyless: parsed.values.keyless,
    profile,
  };
}

async function buildAll(images: readonly string[], progress: Progress): Promise<BuiltImage[]> {
  const base = await buildBase(progress);
  const built: BuiltImage[] = [];
  for (const image of images.length > 0 ? images.map(imageByName) : IMAGES) {
    built.push(await buildImage(image, base, progress));
  }
  return built;
}

const selected = (names: readonly string[]): BuiltImage[] =>
  (names.length > 0 ? names : IMAGES.map((i) => i.name)).map((name) => readBuildRecord(name));

async function afterBuild(parsed: Parsed, progress: Progress, out: NodeJS.WritableStream): Promise<ExitCode> {
  const images = selected(parsed.images);
  const report: unknown[] = [];
  let refused = false;
  for (const image of images) {
    if (parsed.command === 'scan') {
      const scan = await scanImage(
        image,
        {
          root: repoRoot,
          policyFile: join(repoRoot, 'policies', 'scan-policy.yaml'),
          exceptionsFile: join(repoRoot, 'policies', 'exceptions.yaml'),
          ...(parsed.osvDb === undefined ? {} : { osvDb: parsed.osvDb }),
        },
        progress,
      );
      refused ||= scan.result.verdict === 'fail';
      report.push({ image: image.name, ...scan.predicate, evidence: scan.evidence });
      if (!parsed.json) out.write(`\n${image.name}@${image.digest}\n${gateTable(scan.result)}\n`);
    } else if (parsed.command === 'sign') {
      const scanFile = join(evidenceDir(image.name, image.digest), 'scan-predicate.json');
      if (!existsSync(scanFile)) {
        throw new ReleaseError(
          `${image.name}@${image.digest} has not been scanned`,
          'run npm run release -- scan',
          EXIT.usage,
        );
      }
      const scan = JSON.parse(readFileSync(scanFile, 'utf8')) as ScanPredicate;
      if (scan.verdict !== 'pass') {
        throw new ReleaseError(
          `${image.name}@${image.digest}: the scan gate said fail; a failing image is not signed`,
          'fix or except the findings in the gate table (npm run release -- scan), then scan again',
          EXIT.refused,
        );
      }
      if (image.source.dirty) progress.warn(`${image.name}: built from a tree with uncommitted changes`);
      const reference = await signAndAttest(
        image,
        {
          registry: parsed.registry,
          key: parsed.signKeyless === true ? KEYLESS : await ensureSigningKey(),
          scan,
          root: repoRoot,
          repository: 'https://github.com/slipway/slipway',
          builderId:
            parsed.signKeyless === true ? KEYLESS_IDENTITY.subject : 'https://slipway.dev/builders/release-cli-local',
        },
        progress,
      );
      report.push({ image: image.name, reference });
      if (!parsed.json) out.write(`${image.name}: ${reference} signed and attested\n`);
    } else {
      const signer: Signer = parsed.keyless ?? { kind: 'key', publicKey: (await ensureSigningKey()).publicKey };
      const verification = await verifyImage({
        reference: `${parsed.registry}/${image.name}:${image.tag}`,
        expectedDigest: image.digest,
        signer,
        root: repoRoot,
        mainRef: parsed.mainRef,
      });
      refused ||= !verification.ok;
      report.push(verification);
      if (!parsed.json) {
        out.write(`\n${verification.reference} → ${verification.digest}\n`);
        for (const check of verification.checks)
          out.write(`  ${check.ok ? 'ok    ' : 'REFUSE'}  ${check.check.padEnd(24)} ${check.detail}\n`);
        out.write(`verify: ${verification.ok ? 'pass' : 'refused'}\n`);
      }
    }
  }
  if (parsed.json) out.write(`${JSON.stringify({ command: parsed.command, ok: !refused, images: report })}\n`);
  return refused ? EXIT.refused : EXIT.ok;
}

/** deploy, status, abort and promote: the canary executor on the local platform (SLIPWAY_SCOPE, npm start). */
async function releaseCommand(parsed: Parsed, progress: Progress, out: NodeJS.WritableStream): Promise<ExitCode> {
  const scope = platformScope(process.env);
  const running = readRunning(scope);
  if (parsed.command === 'deploy') {
    const key = await ensureSigningKey();
    const { code, record } = await deploy({
      reference: parsed.target ?? '',
      scope,
      plan: RELEASE_PLAN,
      profile: profileByName(parsed.profile),
      publicKey: key.publicKey,
      mainRef: parsed.mainRef,
      env: process.env,
      progress,
      allowBreakingMigrations: parsed.allowBreakingMigrations === true,
    });
    // every release ends with its report beside its record; a report that cannot be drawn does not change the outcome
    let report: string | undefined;
    try {
      report = (await writeReleaseReport(record, { outDir: dirname(recordFile(scope, record.id)) })).html;
    } catch (error) {
      progress.warn(`no report for release ${record.id}: ${error instanceof Error ? error.message : String(error)}`);
    }
    try {
      await rollbackAfterAbort(record, parsed.rollbackPr, (stack) =>
        gitOpsCommand(['rollback', stack, ...(parsed.json ? ['--json'] : [])], out, progress),
      );
    } catch (error) {
      progress.warn(`no rollback pull request: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (parsed.json) out.write(`${JSON.stringify({ command: 'deploy', ok: code === EXIT.ok, record, report })}\n`);
    else
      out.write(
        `${record.outcome}${record.reason ? `: ${record.reason}` : ''}\nrecord: ${recordFile(scope, record.id)}\n` +
          (report === undefined ? '' : `report: ${report}\n`),
      );
    return code;
  }
  if (parsed.command === 'status') {
    const record = running ? readRecord(scope, running.id) : listRecords(scope).at(-1);
    const alive = running !== undefined && executorAlive(running);
    if (parsed.json) out.write(`${JSON.stringify({ command: 'status', ok: true, running: alive, record })}\n`);
    else if (record === undefined) out.write('no release has run on this platform\n');
    else {
      const stage = record.stages.at(-1);
      out.write(
        `release ${record.id}: ${record.outcome}${running && !alive ? ' (its executor died: npm run release -- abort)' : ''}\n` +
          `  canary  ${record.canary.digest}\n` +
          (stage ? `  stage   ${String(stage.index)} at ${String(stage.weight)} %\n` : '') +
          (record.reason ? `  reason  ${record.reason}\n` : '') +
          `  record  ${recordFile(scope, record.id)}\n`,
      );
    }
    return EXIT.ok;
  }
  if (running === undefined) {
    throw new ReleaseError('no release is running', 'npm run release -- status shows the last one', EXIT.usage);
  }
  if (!executorAlive(running)) {
    const record = await restoreStable(
      scope,
      `the executor (pid ${String(running.executorPid)}) died; aborted by an operator`,
    );
    out.write(`${record?.id ?? running.id}: all traffic on stable, canary stopped\n`);
    return EXIT.ok;
  }
  requestControl(scope, parsed.command === 'abort' ? 'abort' : 'promote');
  progress.step(`asked the executor (pid ${String(running.executorPid)}) to ${parsed.command}`);
  const deadline = Date.now() + 60_000;
  while (readRunning(scope) !== undefined && isAlive(running.executorPid) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 200));
  const record = readRecord(scope, running.id);
  out.write(`${running.id}: ${record?.outcome ?? 'unknown'}${record?.reason ? `: ${record.reason}` : ''}\n`);
  return EXIT.ok;
}

export async function main(argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<ExitCode> {
  let json = argv.includes('--json');
  const started = Date.now();
  try {
    // The report reads its own arguments: a record file and --prometheus.
    if (argv[0] === 'report') return await reportCommand(argv.slice(1), out);
    if (isGitOpsCommand(argv))
      return (await gitOpsCommand(argv, out, json ? silentProgress : consoleProgress)) as ExitCode;
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
    if (['deploy', 'status', 'abort', 'promote'].includes(parsed.command))
      return await releaseCommand(parsed, progress, out);
    if (parsed.command !== 'build') return await afterBuild(parsed, progress, out);
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
    return reportFailure(error, json, out, process.stderr);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  process.exitCode = await main(process.argv.slice(2));
}
