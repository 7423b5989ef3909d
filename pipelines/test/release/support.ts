import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

import { scopeDir } from '../../src/platform/paths.js';
import { freePort } from '../../src/platform/ports.js';
import { silentProgress } from '../../src/platform/progress.js';
import { Supervisor } from '../../src/platform/supervisor.js';
import { cosign, type SigningKey } from '../../src/release/cosign.js';
import { runOk } from '../../src/release/exec.js';
import { registryService } from '../../src/release/registry.js';

/** A real registry of this test file's own, on a free loopback port, removed with the returned stop(). */
export async function startRegistry(label: string): Promise<{ address: string; stop: () => Promise<void> }> {
  const dir = join(scopeDir('test'), `run-${String(process.pid)}-registry-${label}`);
  const supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);
  const host = '127.0.0.1';
  const port = await freePort(host);
  await supervisor.start(registryService({ dir, host, port, portEnv: 'none (tests pick a free port)' }));
  return { address: `${host}:${String(port)}`, stop: () => supervisor.stopAll() };
}

/** A fresh database on the harness's PostgreSQL for one test file; returns its URL. */
export async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

interface Manifest {
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
}

/**
 * Rewrites one attestation in the registry the way an attacker with push rights would: the statement's predicate
 * changes, its DSSE signature stays. cosign must then refuse it.
 */
export async function alterAttestation(
  registry: string,
  repository: string,
  digest: string,
  predicateType: string,
): Promise<void> {
  const base = `http://${registry}/v2/${repository}`;
  const tag = `${digest.replace(':', '-')}.att`;
  const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
  const manifestResponse = await fetch(`${base}/manifests/${tag}`, { headers: accept });
  const mediaType = manifestResponse.headers.get('content-type') ?? 'application/vnd.oci.image.manifest.v1+json';
  const manifest = (await manifestResponse.json()) as Manifest;
  const layer = manifest.layers.find((l) => l.annotations?.predicateType === predicateType);
  if (!layer) throw new Error(`no ${predicateType} layer in ${repository}:${tag}`);
  const envelope = (await (await fetch(`${base}/blobs/${layer.digest}`)).json()) as { payload: string };
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
    predicate: Record<string, unknown>;
  };
  statement.predicate.findings = [];
  statement.predicate.counts = { critical: 0, altered: 1 };
  envelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  const body = Buffer.from(JSON.stringify(envelope));
  const newDigest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const upload = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(upload.headers.get('location') ?? '', `http://${registry}`);
  location.searchParams.set('digest', newDigest);
  const put = await fetch(location, { method: 'PUT', body, headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`blob upload answered ${String(put.status)}`);
  layer.digest = newDigest;
  layer.size = body.length;
  const saved = await fetch(`${base}/manifests/${tag}`, {
    method: 'PUT',
    body: JSON.stringify(manifest),
    headers: { 'Content-Type': mediaType },
  });
  if (saved.status !== 201) throw new Error(`manifest upload answered ${String(saved.status)}: ${await saved.text()}`);
}

/**
 * A local OSV database in osv-scanner's offline layout (<dir>/osv-scanner/<ecosystem>/all.zip) from the advisory
 * records under test/fixtures/osv/<ecosystem>/; ecosystems without records get an empty archive.
 */
export async function fixtureOsvDatabase(dir: string): Promise<string> {
  const fixtures = join(fixturesDir, 'osv');
  for (const ecosystem of ['npm', 'Debian']) {
    const target = join(dir, 'osv-scanner', ecosystem);
    mkdirSync(target, { recursive: true });
    const records = existsSync(join(fixtures, ecosystem)) ? readdirSync(join(fixtures, ecosystem)) : [];
    if (records.length === 0) {
      // the end-of-central-directory record alone: a valid zip with no entries
      writeFileSync(join(target, 'all.zip'), Buffer.concat([Buffer.from('PK\x05\x06'), Buffer.alloc(18)]));
      continue;
    }
    await runOk(
      'zip',
      ['-q', '-X', '-j', join(target, 'all.zip'), ...records.map((r) => join(fixtures, ecosystem, r))],
      'zipping the OSV fixture',
    );
  }
  return dir;
}

export const fixturesDir = fileURLToPath(new URL('../fixtures', import.meta.url));

/**
 * A one-layer image pushed straight through the registry's API: enough for cosign, which signs the manifest
 * digest, without a build. Returns `<registry>/<repository>@<digest>`.
 */
export async function pushTestImage(
  registry: string,
  repository: string,
  tag = 'test',
  layerText = `${repository} layer\n`,
): Promise<string> {
  const base = `http://${registry}/v2/${repository}`;
  const sha256 = (body: Buffer): string => `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const blob = async (body: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha256(body);
    const upload = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    const location = new URL(upload.headers.get('location') ?? '', `http://${registry}`);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', body, headers: { 'Content-Type': 'application/octet-stream' } });
    if (put.status !== 201) throw new Error(`blob upload answered ${String(put.status)}`);
    return { digest, size: body.length };
  };
  const layer = Buffer.from(layerText);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }),
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await blob(config)) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...(await blob(layer)) }],
  });
  const saved = await fetch(`${base}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  const digest = saved.headers.get('docker-content-digest');
  if (saved.status !== 201 || digest === null) throw new Error(`manifest upload answered ${String(saved.status)}`);
  return `${registry}/${repository}@${digest}`;
}

/** A CA of its own, standing in for Fulcio offline: its root certificate and key under `dir`. */
export async function testCertificateAuthority(dir: string): Promise<{ certificate: string; key: string }> {
  mkdirSync(dir, { recursive: true });
  const certificate = join(dir, 'ca.pem');
  const key = join(dir, 'ca.key');
  await runOk(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      certificate,
      '-subj',
      '/O=slipway-test/CN=test-fulcio',
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    ],
    'creating a test CA',
  );
  return { certificate, key };
}

/**
 * A cosign key pair with a certificate shaped like Fulcio's for a GitHub workflow: the identity as a URI subject
 * alternative name, code signing usage, and the OIDC issuer in Sigstore's extensions (1.1 raw, 1.8 UTF8String).
 */
export async function keylessLikeSigningKey(
  dir: string,
  ca: { certificate: string; key: string },
  identity: string,
  issuer: string,
): Promise<SigningKey> {
  mkdirSync(dir, { recursive: true });
  const pem = join(dir, 'leaf.key');
  const request = join(dir, 'leaf.csr');
  const extensions = join(dir, 'leaf.ext');
  const certificate = join(dir, 'leaf.pem');
  await runOk(
    'openssl',
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', pem],
    'creating a key',
  );
  await runOk('openssl', ['req', '-new', '-key', pem, '-subj', '/O=sigstore.dev', '-out', request], 'a CSR');
  const raw = [...Buffer.from(issuer)].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
  writeFileSync(
    extensions,
    [
      `subjectAltName=critical,URI:${identity}`,
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=codeSigning',
      `1.3.6.1.4.1.57264.1.1=DER:${raw}`,
      `1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${issuer}`,
      '',
    ].join('\n'),
  );
  await runOk(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      request,
      '-CA',
      ca.certificate,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      extensions,
      '-out',
      certificate,
    ],
    'issuing the signing certificate',
  );
  const password = 'test-keyless-password';
  await runOk(
    cosign(),
    ['import-key-pair', '--key', pem, '--output-key-prefix', join(dir, 'cosign')],
    'importing the key into cosign',
    { env: { ...process.env, COSIGN_PASSWORD: password } },
  );
  return {
    privateKey: join(dir, 'cosign.key'),
    publicKey: join(dir, 'cosign.pub'),
    password,
    certificate: { certificate, chain: ca.certificate },
  };
}
