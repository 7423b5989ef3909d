import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';

/** The sha256 (hex) and size of some bytes. */
export interface Digest {
  readonly sha256: string;
  readonly size: number;
}

/** A pass-through stream that hashes and counts what flows through it. */
export function hashingPassThrough(): { readonly stream: PassThrough; readonly digest: () => Digest } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    size += chunk.length;
  });
  let result: Digest | undefined;
  return {
    stream,
    digest: () => {
      result ??= { sha256: hash.digest('hex'), size };
      return result;
    },
  };
}

/** The sha256 and size of a file. */
export async function fileDigest(path: string): Promise<Digest> {
  const hash = createHash('sha256');
  let size = 0;
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- a file this process wrote or downloaded
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}
