import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Pages that are procedures rather than alerts. */
export const PROCEDURES = ['deploy', 'rollback', 'disaster-recovery', 'incident-response', 'secret-rotation'] as const;
export const ALERT_SECTIONS = ['Meaning', 'Impact', 'Diagnosis', 'Mitigation', 'Escalation'] as const;

/** What is wrong with the runbooks folder `dir` for these alert names; empty when every page is right. */
export function runbookProblems(dir: string, alertNames: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of alertNames) {
    const file = join(dir, `${name}.md`);
    if (!existsSync(file)) {
      problems.push(`runbooks/${name}.md is missing: alert ${name} links to it; write it (see runbooks/README.md)`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    if (!text.startsWith(`# ${name}\n`)) problems.push(`runbooks/${name}.md does not start with "# ${name}"`);
    const headings = [...text.matchAll(/^## (.+)$/gm)].map((match) => match[1]);
    const order = ALERT_SECTIONS.map((section) => headings.indexOf(section));
    ALERT_SECTIONS.forEach((section, index) => {
      if (order[index] === -1) problems.push(`runbooks/${name}.md has no "## ${section}" section`);
    });
    if (order.some((position, index) => index > 0 && position !== -1 && position < (order[index - 1] ?? -1)))
      problems.push(`runbooks/${name}.md has its sections out of order: use ${ALERT_SECTIONS.join(', ')}`);
    const diagnosis = text.split('## Diagnosis')[1]?.split('## Mitigation')[0] ?? '';
    if (!diagnosis.includes('```')) problems.push(`runbooks/${name}.md has no command or query under Diagnosis`);
  }
  const pages = readdirSync(dir).filter((file) => file.endsWith('.md') && file !== 'README.md');
  const known = new Set<string>([...alertNames, ...PROCEDURES]);
  for (const page of pages) {
    const stem = page.slice(0, -'.md'.length);
    if (!known.has(stem))
      problems.push(`runbooks/${page} names neither an alert nor a procedure: rename it, or remove the page`);
    const text = readFileSync(join(dir, page), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([\w.-]+\.md)(?:#[\w-]+)?\)/g))
      if (target !== undefined && !existsSync(join(dir, target)))
        problems.push(`runbooks/${page} links to ${target}, which does not exist`);
  }
  return problems;
}

/**
 * Commands the cluster would refuse or that fight it: Kyverno admits only signed, digest-pinned images in the app
 * namespace (so no `kubectl run`/`debug` with a public image), secrets stay out of command lines and pod specs,
 * and the HPA owns the replica count (a `kubectl scale` is undone within a minute unless its HPA is gone first).
 */
export const REFUSED_COMMANDS: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  { pattern: /kubectl\s+run\b/, why: 'Kyverno refuses an unsigned public image in the app namespace' },
  { pattern: /kubectl\s+debug\b/, why: 'Kyverno refuses an ephemeral container with an unsigned image' },
  { pattern: /--image[= ]/, why: 'only signed images pinned by digest are admitted' },
  { pattern: /kubectl\s+get\s+secret\b/, why: 'copies a secret into a shell or a pod spec' },
];

/** What in one runbook page the cluster's policies or its autoscaler would refuse or undo. */
export function commandProblems(page: string, text: string): string[] {
  const problems = REFUSED_COMMANDS.filter(({ pattern }) => pattern.test(text)).map(
    ({ pattern, why }) => `runbooks/${page} uses ${String(pattern)}: ${why}`,
  );
  if (/kubectl\s+scale\b/.test(text) && !/kubectl\s+delete\s+hpa\b/.test(text))
    problems.push(
      `runbooks/${page} scales with kubectl scale while the HPA owns the replicas: raise the HPA's minReplicas instead`,
    );
  return problems;
}

/** The severities the table at the top of a page names. */
export function pageSeverities(text: string): string[] {
  const row = text.split('\n').find((line, index, lines) => index > 0 && lines[index - 1]?.startsWith('| ---'));
  const cell = row?.split('|')[1] ?? '';
  return [...cell.matchAll(/\b(critical|warning|info|none)\b/g)].map((match) => match[1] ?? '').sort();
}

/** The first fenced block of `language` under `## Meaning`, on one line. */
export function meaningQuery(text: string, language: 'promql' | 'logql'): string | undefined {
  const meaning = text.split('## Meaning')[1]?.split('\n## ')[0] ?? '';
  const body = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(meaning)?.[1];
  return body
    ?.split('\n')
    .map((line) => line.trim())
    .join(' ')
    .trim();
}

/** Inline code spans that read as a PromQL selector or function call: `metric{…}`, `rate(…)`. */
export function inlinePromql(text: string): string[] {
  const withoutBlocks = text.replace(/```[\s\S]*?```/g, '');
  return [...withoutBlocks.matchAll(/`([^`\n]+)`/g)]
    .map((match) => match[1] ?? '')
    .filter((span) => /^[a-z_:]+(\{[^}]*\})?$/.test(span) && span.includes('{'));
}
