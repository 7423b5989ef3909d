/**
 * The evidence bundle of a promotion or rollback: what moves, who signed it, what verify checked, the SBOM and scan
 * summaries with their exceptions, and each canary stage's gate verdicts with their numbers. One value, rendered as
 * the pull request's body (Markdown) and committed as JSON beside the environment file.
 */
import type { ReleaseEvidence, StageRecord } from '../release-record.js';
import type { Check } from '../verify.js';
import type { RecordEnvironment, Stack } from './environment-file.js';

export interface BundleImage {
  readonly name: string;
  /** `registry/repository@sha256:…` as verify checked it. */
  readonly reference: string;
  readonly digest: string;
  /** What it replaces in the stack's file. */
  readonly replaces: string;
  /** verify's checks; absent for a rollback, which pins a digest the stack already ran. */
  readonly checks?: readonly Check[];
}

export interface EvidenceBundle {
  readonly schemaVersion: 1;
  readonly kind: 'promotion' | 'rollback';
  readonly stack: Stack;
  readonly images: readonly BundleImage[];
  /** The signer verify accepted: the key's file or the keyless identity and its issuer. */
  readonly signer?: string;
  /** The successful release record that allows the move. */
  readonly record: {
    readonly environment: RecordEnvironment;
    readonly id: string;
    readonly outcome: string;
    readonly startedAt: string;
    readonly finishedAt?: string;
  };
  /** SBOM and scan summaries as the release recorded them; absent when the record carries none. */
  readonly evidence?: ReleaseEvidence;
  /** The canary stages of the record, each gate with its verdict and numbers. */
  readonly stages: readonly StageRecord[];
  /** The release report (HTML) of the record, when there is one. */
  readonly report?: string;
  /** The record environment's own evidence, when it came there by promotion (the chain back to the rehearsal). */
  readonly upstream?: EvidenceBundle;
}

const LABELS: Readonly<Record<RecordEnvironment, string>> = {
  local: 'the local canary rehearsal (npm run release -- deploy)',
  dev: 'the dev stack',
  staging: 'the staging stack',
  prod: 'the prod stack',
};

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

function numbers(values: Readonly<Record<string, number>>): string {
  const entries = Object.entries(values);
  return entries.length === 0
    ? '—'
    : entries.map(([name, value]) => `${name} ${String(Number(value.toFixed(4)))}`).join(', ');
}

function stageTable(stages: readonly StageRecord[]): string[] {
  if (stages.length === 0) return ['No stage of this record ran a gate here (its AnalysisRuns are in the cluster).'];
  const lines = ['| stage | weight | gate | verdict | numbers | detail |', '| --- | --- | --- | --- | --- | --- |'];
  for (const stage of stages) {
    if (stage.gates.length === 0)
      lines.push(`| ${String(stage.index)} | ${String(stage.weight)} % | — | — | — | no gate at this stage |`);
    for (const gate of stage.gates)
      lines.push(
        `| ${String(stage.index)} | ${String(stage.weight)} % | ${gate.kind} ${cell(gate.name)} | ${gate.verdict} | ${cell(numbers(gate.numbers))} | ${cell(gate.detail)} |`,
      );
  }
  return lines;
}

/** The pull request's title. */
export function bundleTitle(bundle: EvidenceBundle): string {
  const app = bundle.images.find((image) => image.name === 'slipway/erp-api') ?? bundle.images[0];
  const digest = app === undefined ? '' : short(app.digest);
  return bundle.kind === 'promotion'
    ? `Promote erp-api ${digest} to ${bundle.stack}`
    : `Roll back ${bundle.stack} to erp-api ${digest}`;
}

/** The pull request's body: the whole bundle as Markdown, the chain of upstream records folded at the end. */
export function bundleMarkdown(bundle: EvidenceBundle, evidenceFile: string): string {
  const lines: string[] = [];
  lines.push(`## ${bundleTitle(bundle)}`, '');
  lines.push(
    bundle.kind === 'promotion'
      ? `Moves \`${bundle.stack}\` to the images below: they passed \`verify\` now and have a successful release record in ${LABELS[bundle.record.environment]}. Merging lets \`pulumi up -s ${bundle.stack}\` deploy them.`
      : `Pins \`${bundle.stack}\` back to the last images with a successful release record there. Merging lets \`pulumi up -s ${bundle.stack}\` deploy them.`,
    '',
  );
  lines.push('| image | digest | replaces |', '| --- | --- | --- |');
  for (const image of bundle.images) lines.push(`| \`${image.name}\` | \`${image.digest}\` | \`${image.replaces}\` |`);
  lines.push('');
  lines.push('| | |', '| --- | --- |');
  lines.push(`| signer | ${cell(bundle.signer ?? bundle.evidence?.signerIdentity ?? 'not recorded')} |`);
  lines.push(
    `| release record | \`${bundle.record.id}\` in ${LABELS[bundle.record.environment]}: ${bundle.record.outcome}, ${bundle.record.startedAt} → ${bundle.record.finishedAt ?? '?'} |`,
  );
  lines.push(
    `| report | ${bundle.report === undefined ? 'none was written' : `[${bundle.report}](${bundle.report})`} |`,
  );
  lines.push(`| evidence as JSON | \`${evidenceFile}\` in this pull request |`, '');

  lines.push('### Verification', '');
  const verified = bundle.images.filter((image) => image.checks !== undefined);
  if (verified.length === 0) lines.push('Not run again: a rollback pins images this stack already ran with success.');
  else {
    lines.push('| image | check | result | detail |', '| --- | --- | --- | --- |');
    for (const image of verified)
      for (const check of image.checks ?? [])
        lines.push(`| \`${image.name}\` | ${check.check} | ${check.ok ? 'ok' : 'REFUSED'} | ${cell(check.detail)} |`);
  }
  lines.push('');

  lines.push('### SBOM and scan', '');
  const evidence = bundle.evidence;
  if (evidence === undefined) lines.push('The release record carries no SBOM or scan summary.');
  else {
    lines.push('| | |', '| --- | --- |');
    lines.push(`| SBOM | ${evidence.sbom.format}, ${String(evidence.sbom.packages)} packages |`);
    lines.push(`| scan | ${evidence.scan.verdict}, ${String(evidence.scan.findings)} findings |`, '');
    lines.push(`Scan exceptions (${String(evidence.scan.exceptions.length)}):`, '');
    if (evidence.scan.exceptions.length === 0) lines.push('- none');
    for (const exception of evidence.scan.exceptions) lines.push(`- ${exception}`);
  }
  lines.push('');

  lines.push(`### Canary stages of record \`${bundle.record.id}\` (${bundle.record.environment})`, '');
  lines.push(...stageTable(bundle.stages), '');

  for (let upstream = bundle.upstream; upstream !== undefined; upstream = upstream.upstream) {
    lines.push(
      `<details><summary>Before: record <code>${upstream.record.id}</code> in ${LABELS[upstream.record.environment]} (${upstream.record.outcome})</summary>`,
      '',
    );
    lines.push(...stageTable(upstream.stages), '', '</details>', '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
