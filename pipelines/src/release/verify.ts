import { run } from './exec.js';
import { EXIT, ReleaseError } from './errors.js';
import { describeSigner, isLoopbackRegistry, type Signer, verifyAttestation, verifySignature } from './cosign.js';
import { ATTESTATION_TYPES, REQUIRED_ATTESTATIONS, SCAN_MAX_AGE_DAYS } from './identity.js';

/** One thing verify checked, kept as evidence whether it passed or not. */
export interface Check {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Verification {
  readonly reference: string;
  readonly digest: string;
  readonly ok: boolean;
  readonly checks: readonly Check[];
}

export interface VerifyOptions {
  /** `host:port/name:tag` or `host:port/name@sha256:…`. */
  readonly reference: string;
  /** The digest the release recorded; a tag that now points elsewhere is refused. */
  readonly expectedDigest?: string;
  /** The local key, or the keyless identity of the release workflow (certificate identity and OIDC issuer). */
  readonly signer: Signer;
  /** Checkout used to decide whether the provenance's commit is on the main branch. */
  readonly root: string;
  readonly mainRef: string;
  readonly now?: Date;
}

interface ParsedReference {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** host or host:port */
const isRegistry = (value: string): boolean => {
  const [host = '', port, ...extra] = value.split(':');
  return /^[\w.-]+$/.test(host) && extra.length === 0 && (port === undefined || /^\d{1,5}$/.test(port));
};

export function parseReference(reference: string): ParsedReference {
  const slash = reference.indexOf('/');
  const registry = reference.slice(0, Math.max(slash, 0));
  let rest = reference.slice(slash + 1);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  const tag = colon > rest.lastIndexOf('/') && colon !== -1 ? rest.slice(colon + 1) : undefined;
  const repository = tag === undefined ? rest : rest.slice(0, colon);
  const valid =
    isRegistry(registry) &&
    /^[a-z0-9._/-]+$/.test(repository) &&
    (tag === undefined || /^[\w.-]+$/.test(tag)) &&
    (digest === undefined || /^sha256:[0-9a-f]{64}$/.test(digest)) &&
    (tag !== undefined || digest !== undefined);
  if (!valid) {
    throw new ReleaseError(
      `${JSON.stringify(reference)} is not <registry>/<repository>:<tag> or <registry>/<repository>@sha256:<digest>`,
      'pass the image as 127.0.0.1:5000/slipway/erp-api@sha256:…',
      EXIT.usage,
    );
  }
  return { registry, repository, tag, digest };
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** What a tag or digest points at in a registry that is not on loopback, over verified TLS. */
async function remoteDigest(reference: string): Promise<string> {
  const result = await run('skopeo', ['inspect', '--no-tags', '--format', '{{.Digest}}', `docker://${reference}`]);
  const digest = result.stdout.trim();
  if (result.code !== 0 || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new ReleaseError(
      `${reference} is not in the registry or cannot be read: ${result.stderr.trim().slice(-300)}`,
      'log in to the registry (GHCR: docker/login-action in the release workflow) and push it with sign --keyless',
      EXIT.refused,
    );
  }
  return digest;
}

/** What a tag or digest points at in the registry now. */
export async function resolveDigest(reference: string): Promise<string> {
  const ref = parseReference(reference);
  // a registry elsewhere (GHCR) wants TLS and a token: skopeo brings both, with the login of the workflow
  if (!isLoopbackRegistry(reference)) return remoteDigest(reference);
  const url = `http://${ref.registry}/v2/${ref.repository}/manifests/${ref.digest ?? ref.tag ?? ''}`;
  const response = await fetch(url, { method: 'HEAD', headers: { Accept: MANIFEST_TYPES } }).catch((error: unknown) => {
    throw new ReleaseError(
      `registry ${ref.registry} did not answer: ${String(error)}`,
      'start it (npm start) or pass --registry',
      EXIT.missing,
    );
  });
  const digest = response.headers.get('docker-content-digest');
  if (response.status !== 200 || digest === null) {
    throw new ReleaseError(
      `${reference} is not in the registry (HTTP ${String(response.status)})`,
      'push it with npm run release -- sign',
      EXIT.refused,
    );
  }
  return digest;
}

interface Statement {
  readonly predicateType?: string;
  readonly subject?: readonly { digest?: { sha256?: string } }[];
  readonly predicate?: Record<string, unknown>;
}

/** The in-toto statements cosign verified, from its JSON lines (one DSSE envelope each). */
function statements(stdout: string): Statement[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as { payload?: string })
    .map((envelope) => JSON.parse(Buffer.from(envelope.payload ?? '', 'base64').toString('utf8')) as Statement);
}

const lastLines = (text: string): string => text.trim().split('\n').slice(-2).join(' ').slice(0, 400);

/**
 * Checks an image before anything runs it: the signature is from the configured signer (key or keyless identity),
 * every required attestation is present and signed over this digest by the same signer, the scan says pass and is
 * fresh, and the provenance names a commit on the main branch. Every check is reported, passed or not.
 */
export async function verifyImage(options: VerifyOptions): Promise<Verification> {
  const ref = parseReference(options.reference);
  const checks: Check[] = [];
  const digest = await resolveDigest(options.reference);
  if (options.expectedDigest !== undefined) {
    const moved = digest !== options.expectedDigest;
    checks.push({
      check: 'digest',
      ok: !moved,
      detail: moved
        ? `${options.reference} points to ${digest}, the release recorded ${options.expectedDigest}: the tag was moved`
        : `${options.reference} is ${digest}`,
    });
  }
  const pinned = `${ref.registry}/${ref.repository}@${digest}`;

  const signer = describeSigner(options.signer);
  const signature = await verifySignature(pinned, options.signer);
  checks.push({
    check: 'signature',
    ok: signature.code === 0,
    detail:
      signature.code === 0
        ? `${pinned} is signed by ${signer}`
        : `no valid signature on ${pinned} by ${signer}: ${lastLines(signature.stderr)}`,
  });

  for (const kind of REQUIRED_ATTESTATIONS) {
    const type = ATTESTATION_TYPES[kind];
    const result = await verifyAttestation(pinned, type, options.signer);
    const found = result.code === 0 ? statements(result.stdout).filter((s) => s.predicateType === type) : [];
    const onDigest = found.filter((s) =>
      s.subject?.some((subject) => `sha256:${subject.digest?.sha256 ?? ''}` === digest),
    );
    if (onDigest.length === 0) {
      checks.push({
        check: `attestation ${kind}`,
        ok: false,
        detail: `no ${type} attestation signed by ${signer} on ${pinned}${result.code === 0 ? '' : `: ${lastLines(result.stderr)}`}`,
      });
      continue;
    }
    checks.push({
      check: `attestation ${kind}`,
      ok: true,
      detail: `${String(onDigest.length)} signed ${type} statement(s)`,
    });
    const latest = onDigest.at(-1)?.predicate ?? {};
    if (kind === 'scan') checks.push(scanCheck(latest, options.now ?? new Date()));
    if (kind === 'provenance') checks.push(await provenanceCheck(latest, options));
  }
  return { reference: options.reference, digest, ok: checks.every((c) => c.ok), checks };
}

function scanCheck(predicate: Record<string, unknown>, now: Date): Check {
  const verdict = predicate.verdict;
  const scannedAt = typeof predicate.scannedAt === 'string' ? new Date(predicate.scannedAt) : undefined;
  if (verdict !== 'pass') {
    return {
      check: 'scan result',
      ok: false,
      detail: `the scan attestation says ${JSON.stringify(verdict)}, not "pass"`,
    };
  }
  const ageDays = scannedAt === undefined ? Infinity : (now.getTime() - scannedAt.getTime()) / 86_400_000;
  if (!(ageDays <= SCAN_MAX_AGE_DAYS)) {
    return {
      check: 'scan result',
      ok: false,
      detail: `the scan is from ${String(predicate.scannedAt)}, older than ${String(SCAN_MAX_AGE_DAYS)} days: scan and sign again`,
    };
  }
  return { check: 'scan result', ok: true, detail: `pass, scanned ${String(predicate.scannedAt)}` };
}

async function provenanceCheck(predicate: Record<string, unknown>, options: VerifyOptions): Promise<Check> {
  const definition = predicate.buildDefinition as { externalParameters?: { ref?: unknown } } | undefined;
  const commit = definition?.externalParameters?.ref;
  if (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit)) {
    return {
      check: 'provenance commit',
      ok: false,
      detail: `the provenance names no commit (ref: ${JSON.stringify(commit)})`,
    };
  }
  const ancestor = await run('git', ['merge-base', '--is-ancestor', commit, options.mainRef], { cwd: options.root });
  return ancestor.code === 0
    ? { check: 'provenance commit', ok: true, detail: `${commit} is on ${options.mainRef}` }
    : {
        check: 'provenance commit',
        ok: false,
        detail: `${commit} is not on ${options.mainRef}: only commits merged to the main branch are released`,
      };
}
