import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { main as preview, parsePreviewArgs } from '../../src/preview/cli.js';
import { substitute } from '../../src/preview/dashboards.js';
import { main as release } from '../../src/release/cli.js';
import { EXIT } from '../../src/release/errors.js';
import { promotedRecord } from './record.js';

function collect(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

const version = (hash: string) => ({ digest: `sha256:${hash.repeat(8)}`, namespace: 'ns', podTemplateHash: hash });
const record = promotedRecord(
  version('aaaaaaaa'),
  version('bbbbbbbb'),
  new Date('2026-12-04T12:00:00Z'),
  new Date('2026-12-04T12:05:00Z'),
);

async function run(argv: string[]): Promise<{ code: number; answer: Record<string, unknown> }> {
  const out = collect();
  const code = await release([...argv, '--json'], out.stream);
  return { code, answer: JSON.parse(out.text()) as Record<string, unknown> };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

describe('npm run release -- report: bad input', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-report-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('report --help prints its usage', async () => {
    const out = collect();
    expect(await release(['report', '--help'], out.stream)).toBe(EXIT.ok);
    expect(out.text()).toContain('usage: npm run release -- report <record.json> [--prometheus URL]');
  });

  test('no record file, a missing one, one that is not JSON and one of the wrong shape: exit 2, what and fix', async () => {
    expect((await run(['report'])).answer).toMatchObject({
      ok: false,
      exitCode: EXIT.usage,
      error: 'report needs the path of a release record',
    });
    const missing = join(dir, 'nope.json');
    expect(await run(['report', missing])).toEqual({
      code: EXIT.usage,
      answer: {
        ok: false,
        exitCode: EXIT.usage,
        error: `release record ${missing} cannot be read (ENOENT)`,
        fix: expect.stringContaining('pass the path of a record a release wrote') as unknown,
      },
    });
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"schemaVersion": 1,');
    expect((await run(['report', broken])).answer).toMatchObject({
      exitCode: EXIT.usage,
      error: expect.stringContaining(`release record ${broken} is not JSON: `) as unknown,
    });
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ ...record, outcome: 'maybe', stages: [{ ...record.stages[0], weight: 0 }] }));
    const { code, answer } = await run(['report', wrong]);
    expect(code).toBe(EXIT.usage);
    expect(answer.error).toContain(`release record ${wrong} is not a release record: `);
    expect(answer.error).toContain('outcome: ');
    expect(answer.error).toContain('stages.0.weight: ');
    expect(answer.fix).toContain('ReleaseRecord in pipelines/src/release/release-record.ts');
  });

  test('a --prometheus that is not a URL is refused; one that does not answer is a missing service (exit 3)', async () => {
    const file = join(dir, 'record.json');
    writeFileSync(file, JSON.stringify(record));
    expect((await run(['report', file, '--prometheus', 'localhost:9090'])).answer).toMatchObject({
      exitCode: EXIT.usage,
      error: '--prometheus "localhost:9090" uses localhost:',
    });
    const port = await closedPort();
    const { code, answer } = await run(['report', file, '--prometheus', `http://127.0.0.1:${port}`]);
    expect(code).toBe(EXIT.missing);
    expect(answer.error).toContain(`Prometheus at http://127.0.0.1:${port} did not answer /api/v1/query_range`);
    expect(answer.fix).toContain('npm start runs one');
  });

  test('without any Prometheus the report is still written, and says it has no charts', async () => {
    const file = join(dir, 'plain.json');
    writeFileSync(file, JSON.stringify(record));
    const { code, answer } = await run(['report', file]);
    expect(code).toBe(EXIT.ok);
    expect(answer).toMatchObject({ ok: true, charts: [], chartsOmitted: 'no Prometheus URL' });
    const html = readFileSync(join(dir, `${record.id}.html`), 'utf8');
    expect(html).toContain('No charts: neither --prometheus nor the record’s prometheusUrl names a Prometheus.');
    expect(html).not.toMatch(/(src|href)="?https?:/);
  });
});

describe('npm run dashboards:preview: arguments', () => {
  test('substitutes $var, ${var} and [[var]], leaving unknown ones', () => {
    const values = new Map([
      ['namespace', '.*'],
      ['__rate_interval', '4s'],
    ]);
    expect(substitute('x{namespace=~"$namespace"}[$__rate_interval] ${namespace} [[namespace]] $other', values)).toBe(
      'x{namespace=~".*"}[4s] .* .* $other',
    );
  });

  test('refuses a bad --range and a bad --prometheus; an unreachable one exits 3 with the fix', async () => {
    expect(() => parsePreviewArgs(['--range', 'soon'])).toThrow(/--range "soon" is not a Prometheus duration/);
    expect(() => parsePreviewArgs(['--range', '10s'])).toThrow(/a minute or more/);
    expect(() => parsePreviewArgs(['--prometheus', 'nope'])).toThrow(/--prometheus "nope" is not a URL/);
    expect(parsePreviewArgs([], { SLIPWAY_PROMETHEUS_URL: 'http://127.0.0.1:9999/' }).prometheusUrl).toBe(
      'http://127.0.0.1:9999',
    );
    const out = collect();
    const port = await closedPort();
    const code = await preview(['--prometheus', `http://127.0.0.1:${port}`, '--json'], out.stream);
    expect(code).toBe(EXIT.missing);
    expect(JSON.parse(out.text())).toMatchObject({
      ok: false,
      error: expect.stringContaining(`Prometheus at http://127.0.0.1:${port} did not answer`) as unknown,
    });
  });
});
