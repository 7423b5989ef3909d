import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { EXIT } from '../../src/release/errors.js';
import { main, parseCommandLine } from '../../src/release/cli.js';
import { attestCommand, isLoopbackRegistry, KEYLESS, signCommand } from '../../src/release/cosign.js';
import { KEYLESS_IDENTITY } from '../../src/release/identity.js';

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

describe('npm run release', () => {
  it('documents its commands and exit codes', async () => {
    const out = collect();
    expect(await main(['--help'], out.stream)).toBe(EXIT.ok);
    for (const word of ['build', 'scan', 'sign', 'verify', 'exit codes', '--json']) expect(out.text()).toContain(word);
  });

  it('answers an unknown command with exit 2 and a structured --json error', async () => {
    const out = collect();
    expect(await main(['launch', '--json'], out.stream)).toBe(EXIT.usage);
    expect(JSON.parse(out.text())).toMatchObject({
      ok: false,
      exitCode: 2,
      error: 'unknown command "launch"',
      fix: expect.stringContaining('build, scan, sign, verify') as unknown,
    });
  });

  it('refuses an unknown image, an unknown flag and an OSV database folder without osv-scanner/', () => {
    expect(() => parseCommandLine(['build', '--image', 'nope'])).toThrow(/unknown image 'nope'/);
    expect(() => parseCommandLine(['build', '--fast'])).toThrow(/--fast/);
    expect(() => parseCommandLine(['scan', '--osv-db', '/nonexistent'])).toThrow(
      /--osv-db \/nonexistent holds no osv-scanner/,
    );
  });

  it('takes the registry from the flag, then SLIPWAY_REGISTRY, then the platform default', () => {
    expect(parseCommandLine(['sign', '--registry', '127.0.0.1:5999']).registry).toBe('127.0.0.1:5999');
    const saved = { registry: process.env.SLIPWAY_REGISTRY, port: process.env.SLIPWAY_REGISTRY_PORT };
    try {
      delete process.env.SLIPWAY_REGISTRY;
      delete process.env.SLIPWAY_REGISTRY_PORT;
      expect(parseCommandLine(['sign']).registry).toBe('127.0.0.1:5000');
      // a platform whose ports were moved: its registry, with no second variable to set
      process.env.SLIPWAY_REGISTRY_PORT = '5123';
      expect(parseCommandLine(['sign']).registry).toBe('127.0.0.1:5123');
      process.env.SLIPWAY_REGISTRY = '127.0.0.1:5998';
      expect(parseCommandLine(['sign']).registry).toBe('127.0.0.1:5998');
    } finally {
      if (saved.registry === undefined) delete process.env.SLIPWAY_REGISTRY;
      else process.env.SLIPWAY_REGISTRY = saved.registry;
      if (saved.port === undefined) delete process.env.SLIPWAY_REGISTRY_PORT;
      else process.env.SLIPWAY_REGISTRY_PORT = saved.port;
    }
  });

  it('verifies keyless with --certificate-identity and --certificate-oidc-issuer, both or neither, on verify only', () => {
    const keyless = [
      '--certificate-identity',
      KEYLESS_IDENTITY.subject,
      '--certificate-oidc-issuer',
      KEYLESS_IDENTITY.issuer,
    ];
    expect(parseCommandLine(['verify', ...keyless]).keyless).toEqual({
      kind: 'keyless',
      identity: KEYLESS_IDENTITY.subject,
      issuer: KEYLESS_IDENTITY.issuer,
    });
    expect(parseCommandLine(['verify']).keyless).toBeUndefined();
    expect(() => parseCommandLine(['verify', '--certificate-identity', KEYLESS_IDENTITY.subject])).toThrow(
      /--certificate-identity and --certificate-oidc-issuer go together/,
    );
    expect(() =>
      parseCommandLine([
        'verify',
        '--certificate-identity',
        'release.yml',
        '--certificate-oidc-issuer',
        KEYLESS_IDENTITY.issuer,
      ]),
    ).toThrow(/--certificate-identity "release.yml" is not an https:\/\/ URL/);
    expect(() => parseCommandLine(['sign', ...keyless])).toThrow(/apply to verify, not sign/);
  });

  it('signs keyless with --keyless on sign only', () => {
    expect(parseCommandLine(['sign', '--keyless', '--registry', 'ghcr.io']).signKeyless).toBe(true);
    expect(parseCommandLine(['sign']).signKeyless).toBe(false);
    expect(() => parseCommandLine(['verify', '--keyless'])).toThrow(/--keyless applies to sign, not verify/);
  });
});

describe('cosign arguments', () => {
  const ghcr = `ghcr.io/slipway/erp-api@sha256:${'a'.repeat(64)}`;
  const local = `127.0.0.1:5000/slipway/erp-api@sha256:${'a'.repeat(64)}`;
  const key = { privateKey: '/k/cosign.key', publicKey: '/k/cosign.pub', password: 'p' };

  it('keyless: no key, the transparency log on, and no plain-HTTP or unverified-TLS flags for GHCR', () => {
    expect(signCommand(ghcr, KEYLESS)).toEqual(['sign', '--yes', ghcr]);
    expect(attestCommand(ghcr, 'https://slsa.dev/provenance/v1', 'p.json', KEYLESS)).toEqual([
      'attest',
      '--yes',
      '--type',
      'https://slsa.dev/provenance/v1',
      '--predicate',
      'p.json',
      ghcr,
    ]);
  });

  it('local: the key, no transparency log, and plain HTTP only to the loopback registry', () => {
    expect(signCommand(local, key)).toEqual([
      'sign',
      '--yes',
      '--tlog-upload=false',
      '--key',
      '/k/cosign.key',
      '--allow-http-registry',
      '--allow-insecure-registry',
      local,
    ]);
    expect(isLoopbackRegistry(local)).toBe(true);
    expect(isLoopbackRegistry('localhost:5000/slipway/erp-api:1')).toBe(true);
    expect(isLoopbackRegistry(ghcr)).toBe(false);
    expect(isLoopbackRegistry('127.0.0.1.example.com/slipway/erp-api:1')).toBe(false);
  });
});
