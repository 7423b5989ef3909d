import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import ts from 'typescript';

// @grafana/schema ships the dashboard model as TypeScript types only, so the compiler is the validator.
const SCHEMA_TYPES = join(
  dirname(createRequire(import.meta.url).resolve('@grafana/schema/package.json')),
  'dist/types/index',
);

// TypeScript string enums (ThresholdsMode…) refuse their own JSON values; this turns each enum into its values.
const AS_JSON = [
  'type Json<T> = T extends string ? `${T}` : T extends (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;',
  // The schema leaves each data source's query type open (AnnotationQuery<TQuery>); ours is a Prometheus range query.
  'type Annotation = AnnotationQuery<DataQuery & { expr: string; interval?: string }>;',
  "type Dashboard = Json<Omit<Schema, 'annotations'> & { annotations?: { list?: Annotation[] } }>;",
].join('\n');

/**
 * Type errors of each dashboard checked as an object literal that `satisfies` @grafana/schema's `Dashboard`:
 * a literal gets excess-property checks, so an unknown field fails as well as a wrong type.
 */
export function dashboardSchemaErrors(dashboards: Readonly<Record<string, unknown>>): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-dashboards-'));
  try {
    const file = join(dir, 'dashboards.ts');
    const body = Object.entries(dashboards)
      .map(
        ([name, json], index) =>
          `// ${name}\nexport const dashboard${index} = ${JSON.stringify(json, null, 2)} satisfies Dashboard;`,
      )
      .join('\n\n');
    writeFileSync(
      file,
      `import type { AnnotationQuery, DataQuery, Dashboard as Schema } from ${JSON.stringify(SCHEMA_TYPES)};\n${AS_JSON}\n${body}\n`,
    );
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2023,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      if (diagnostic.file === undefined || diagnostic.start === undefined) return text;
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      const source = diagnostic.file.text.split('\n');
      const owner = source
        .slice(0, line + 1)
        .reverse()
        .find((l) => l.startsWith('// '));
      return `${owner?.slice(3) ?? '?'} line ${line + 1}: ${(source[line] ?? '').trim()}: ${text}`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
