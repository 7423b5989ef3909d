/**
 * The environment files: one per stack (`infra/environments/<stack>.yaml`), the only place that says which image
 * digests a stack runs and which release record they came from. `pulumi up` reads them (infra/src/config.ts),
 * promotion and rollback pull requests change them.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';

/** The cloud stacks, in promotion order. */
export const STACKS = ['dev', 'staging', 'prod'] as const;
export type Stack = (typeof STACKS)[number];

/** Where a release record can come from: the local canary rehearsal (`npm run release -- deploy`) or a stack. */
export type RecordEnvironment = 'local' | Stack;

/** Each stack takes only what passed the one before it; dev takes what passed the local canary rehearsal. */
export const PREDECESSOR: Readonly<Record<Stack, RecordEnvironment>> = {
  dev: 'local',
  staging: 'dev',
  prod: 'staging',
};

export const ENVIRONMENTS_DIR = 'infra/environments';
export const environmentFilePath = (stack: Stack): string => `${ENVIRONMENTS_DIR}/${stack}.yaml`;
/** The evidence bundle of the promotion or rollback that last changed the stack's file, as JSON. */
export const evidenceFilePath = (stack: Stack): string => `${ENVIRONMENTS_DIR}/${stack}.evidence.json`;

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
/** What a stack file holds before its first promotion; Kyverno refuses it, so nothing runs from it. */
export const PLACEHOLDER_DIGEST = `sha256:${'0'.repeat(64)}`;

const DIGEST_RULE = 'must be sha256: followed by 64 lowercase hex digits';
const digest = z.string({ error: DIGEST_RULE }).regex(DIGEST_PATTERN, { error: DIGEST_RULE });

const environmentFileSchema = z.strictObject({
  environment: z.enum(STACKS, { error: `must be one of ${STACKS.join(', ')}` }),
  images: z.strictObject(
    { app: digest, gate: digest },
    { error: 'must be a map with the digests of app (erp-api) and gate (erp-api-gate)' },
  ),
  release: z
    .strictObject(
      {
        kind: z.enum(['promotion', 'rollback'], { error: 'must be promotion or rollback' }),
        record: z
          .string({ error: 'must be the id of a release record' })
          .regex(/^[A-Za-z0-9._-]+$/, { error: 'must be the id of a release record' }),
        recordEnvironment: z.enum(['local', ...STACKS], { error: `must be one of local, ${STACKS.join(', ')}` }),
      },
      { error: 'must be a map with kind, record and recordEnvironment, or null before the first promotion' },
    )
    .nullable(),
});

export type EnvironmentFile = z.infer<typeof environmentFileSchema>;

const FIX =
  'change it only through `npm run release -- promote --to <stack> <digest>` or `rollback <stack>`; by hand, ' +
  'restore the file from main (git checkout main -- <file>)';

/**
 * Parses an environment file's text. Returns the file, or one line per problem naming the file, the field, the value
 * and what to do; `stack` is the stack the file belongs to.
 */
export function parseEnvironmentFile(
  text: string,
  file: string,
  stack: Stack,
): { file: EnvironmentFile; problems?: undefined } | { file?: undefined; problems: string[] } {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    return { problems: [`${file} is not YAML: ${(error as Error).message.split('\n')[0] ?? ''}; ${FIX}`] };
  }
  const result = environmentFileSchema.safeParse(value);
  if (!result.success) {
    return {
      problems: result.error.issues.map((issue) => {
        const field = issue.path.length === 0 ? '(top)' : issue.path.join('.');
        const found = issue.path.reduce<unknown>(
          (inner, key) =>
            typeof inner === 'object' && inner !== null ? (inner as Record<PropertyKey, unknown>)[key] : undefined,
          value,
        );
        const shown = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : JSON.stringify(found ?? null);
        const rule = issue.code === 'unrecognized_keys' ? 'are not fields of an environment file' : issue.message;
        return `${file}: ${field}=${shown} is invalid: ${rule}; ${FIX}`;
      }),
    };
  }
  if (result.data.environment !== stack)
    return {
      problems: [
        `${file}: environment=${JSON.stringify(result.data.environment)} is invalid: the file of stack ${stack} must say environment: ${stack}; ${FIX}`,
      ],
    };
  return { file: result.data };
}

/** The file's text as promotion writes it: a header that says how it changes, then the values. */
export function renderEnvironmentFile(file: EnvironmentFile): string {
  const stack = file.environment;
  return (
    `# What the ${stack} stack runs; pulumi up -s ${stack} deploys what main holds here.\n` +
    `# Changed only by pull requests that npm run release -- promote --to ${stack} <digest> or rollback ${stack} open.\n` +
    stringifyYaml(file, { lineWidth: 0 })
  );
}
