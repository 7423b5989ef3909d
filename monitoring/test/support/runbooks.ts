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
