import { randomBytes } from 'node:crypto';

import { hash, verify } from '@node-rs/argon2';
import { z } from 'zod';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/** A new password: 12 to 128 characters (NIST SP 800-63B: length, not composition rules). */
export const newPasswordSchema = z
  .string()
  .min(PASSWORD_MIN_LENGTH, { error: `must be at least ${PASSWORD_MIN_LENGTH} characters; choose a longer passphrase` })
  .max(PASSWORD_MAX_LENGTH, { error: `must be at most ${PASSWORD_MAX_LENGTH} characters` });

/**
 * OWASP Password Storage Cheat Sheet minimum for argon2id: 19 MiB, 2 passes, 1 lane. Argon2id is the package's
 * default algorithm (its `Algorithm` is an ambient const enum that isolated modules cannot read); a test pins it.
 */
export const ARGON2_OPTIONS = {
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

/** The same password typed on different keyboards (composed or decomposed accents) hashes the same. */
function normalise(password: string): string {
  return password.normalize('NFC');
}

/**
 * argon2id password hashing keyed with the pepper (argon2's `secret` input), so the hashes in the database are
 * useless without the pepper held in the service's configuration.
 */
export class PasswordHasher {
  readonly #secret: Uint8Array;
  #dummyHash: Promise<string> | undefined;

  constructor(pepper: string) {
    this.#secret = new TextEncoder().encode(pepper);
  }

  hash(password: string): Promise<string> {
    return hash(normalise(password), { ...ARGON2_OPTIONS, secret: this.#secret });
  }

  /** Whether `password` matches `passwordHash`; argon2 compares the digests in constant time. */
  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, normalise(password), { secret: this.#secret });
    } catch {
      // A malformed stored hash matches nothing; it must not turn a sign-in into a 500.
      return false;
    }
  }

  /** Spends the time of one verification for an unknown account, so response time does not reveal which exist. */
  async verifyDummy(password: string): Promise<false> {
    this.#dummyHash ??= this.hash(randomBytes(32).toString('base64url'));
    await this.verify(await this.#dummyHash, password);
    return false;
  }
}
