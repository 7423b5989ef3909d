import type { ESLint, Rule } from 'eslint';

export interface Boundary {
  /** The workspaces its runtime code may import. */
  readonly imports: string[];
  /** The paths (a file, or a folder ending in /) the others may import from it. */
  readonly published: string[];
}

export const CONTRIBUTING: string;
export function readBoundaries(text: string): Record<string, Boundary>;
/** The repository file a workspace's package.json `exports` gives for a subpath (`.`, `./slo`), if any. */
export function exportedFile(workspace: string, subpath: string): string | undefined;
export function workspaceBoundaries(boundaries: Record<string, Boundary>): Rule.RuleModule;
export const slipwayPlugin: ESLint.Plugin;
