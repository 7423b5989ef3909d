import { randomBytes } from 'node:crypto';

import { parseOptions } from '@node-rs/argon2';
import fc from 'fast-check';
import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';

import {
  ARGON2_OPTIONS,
  PASSWORD_MIN_LENGTH,
  PasswordHasher,
  newPasswordSchema,
} from '../src/components/auth/passwords.js';
import { TokenService, TokenVerificationError, keyId } from '../src/components/auth/tokens.js';
import { ConfigError, loadConfig, weakSecretReason } from '../src/config.js';

const secret = (): string => randomBytes(48).toString('base64url');
const settings = { issuer: 'erp-api', audience: 'erp-api' };
const USER = '6f1d8c1e-3f5c-4a47-9b8e-2f7f5f9d0c11';
const SESSION = '0b6a3e0e-52a3-4a52-8f0e-7d0f8a1c9e22';

async function refusal(work: Promise<unknown>): Promise<TokenVerificationError> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof TokenVerificationError))
    throw new Error(`expected a TokenVerificationError, got ${String(error)}`);
  return error;
}

describe('tokens', () => {
  it('signs with the newest secret, names it by a kid that is not the secret, and carries the claims', async () => {
    const [newest, older] = [secret(), secret()];
    const tokens = new TokenService({ ...settings, secrets: [newest, older] });
    const issued = await tokens.issue('access', USER, SESSION);
    const header = decodeProtectedHeader(issued.token);
    expect(header).toMatchObject({ alg: 'HS256', kid: keyId(newest) });
    expect(header.kid).not.toContain(newest.slice(0, 8));
    expect(keyId(newest)).toBe(keyId(newest));
    expect(await tokens.verify(issued.token, 'access')).toEqual({
      type: 'access',
      userId: USER,
      sessionId: SESSION,
      jti: issued.jti,
      expiresAt: issued.expiresAt,
    });
    expect(issued.expiresAt.getTime() - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(issued.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(15 * 60_000);
  });

  it('verifies a token signed with an older secret still listed, and refuses one whose kid is unknown', async () => {
    const [old, rotated, retired] = [secret(), secret(), secret()];
    const before = await new TokenService({ ...settings, secrets: [old] }).issue('access', USER, SESSION);
    const afterRotation = new TokenService({ ...settings, secrets: [rotated, old] });
    await expect(afterRotation.verify(before.token, 'access')).resolves.toMatchObject({ userId: USER });

    const forgotten = await new TokenService({ ...settings, secrets: [retired] }).issue('access', USER, SESSION);
    expect((await refusal(afterRotation.verify(forgotten.token, 'access'))).reason).toBe('invalid');
  });

  it('refuses the wrong type, issuer or audience', async () => {
    const key = secret();
    const tokens = new TokenService({ ...settings, secrets: [key] });
    const refresh = await tokens.issue('refresh', USER, SESSION);
    expect((await refusal(tokens.verify(refresh.token, 'access'))).message).toBe('token is not an access token');
    const otherAudience = new TokenService({ ...settings, audience: 'billing', secrets: [key] });
    await refusal(otherAudience.verify(refresh.token, 'refresh'));
    const otherIssuer = new TokenService({ ...settings, issuer: 'someone-else', secrets: [key] });
    await refusal(otherIssuer.verify(refresh.token, 'refresh'));
    expect(refresh.expiresAt.getTime() - Date.now()).toBeGreaterThan(7 * 86_400_000 - 60_000);
  });

  it('refuses any token with one byte changed', async () => {
    const tokens = new TokenService({ ...settings, secrets: [secret()] });
    const { token } = await tokens.issue('access', USER, SESSION);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: token.length - 1 }), fc.integer({ min: 1, max: 255 }), async (index, flip) => {
        const bytes = Buffer.from(token, 'latin1');
        bytes[index] = (bytes[index] ?? 0) ^ flip;
        const changed = bytes.toString('latin1');
        // Some flips of the last base64url character only touch padding bits and decode to the same signature.
        fc.pre(
          changed !== token &&
            Buffer.from(changed.split('.')[2] ?? '', 'base64url').toString('base64url') !== token.split('.')[2],
        );
        await refusal(tokens.verify(changed, 'access'));
      }),
      { numRuns: 300 },
    );
  });
});

describe('passwords', () => {
  it('hashes with argon2id at the OWASP minimum, keyed with the pepper', async () => {
    const hasher = new PasswordHasher('pepper-one-0123456789');
    const hash = await hasher.hash('correct horse battery staple');
    expect(hash).toMatch(/^\$argon2id\$/);
    expect(parseOptions(hash)).toMatchObject({
      algorithm: 2,
      memoryCost: ARGON2_OPTIONS.memoryCost,
      timeCost: ARGON2_OPTIONS.timeCost,
      parallelism: ARGON2_OPTIONS.parallelism,
    });
    await expect(hasher.verify(hash, 'correct horse battery staple')).resolves.toBe(true);
    await expect(hasher.verify(hash, 'correct horse battery stapl')).resolves.toBe(false);
    // The same hash is worthless without the pepper.
    await expect(
      new PasswordHasher('pepper-two-0123456789').verify(hash, 'correct horse battery staple'),
    ).resolves.toBe(false);
    await expect(hasher.verify('not-a-hash', 'anything')).resolves.toBe(false);
    await expect(hasher.verifyDummy('anything')).resolves.toBe(false);
  });

  it('refuses every new password shorter than 12 or longer than 128 characters, and accepts the rest', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: PASSWORD_MIN_LENGTH - 1 }), (password) => {
        expect(newPasswordSchema.safeParse(password).success).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.string({ minLength: 129, maxLength: 300 }), (password) => {
        expect(newPasswordSchema.safeParse(password).success).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.string({ minLength: 12, maxLength: 128 }), (password) => {
        expect(newPasswordSchema.safeParse(password).success).toBe(true);
      }),
    );
  });
});

describe('secret rules', () => {
  const REQUIRED = {
    DATABASE_URL: 'postgres://erp:db-pass-123@db.internal:5432/erp',
    REDIS_URL: 'redis://:redis-pass-456@cache.internal:6379/0',
  };

  function problems(env: NodeJS.ProcessEnv): readonly string[] {
    try {
      loadConfig({ ...REQUIRED, ...env });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  }

  it.each([
    ['secret', 'bytes long'],
    ['your-256-bit-secret', 'bytes long'],
    ['your-256-bit-secret-your-256-bit-secret', 'published default or placeholder'],
    ['erpgo-secret-pepper-change-in-production', 'published default or placeholder'],
    ['jwt-secretjwt-secretjwt-secretjwt-secret', 'one short sequence repeated'],
    ['abababababababababababababababababcd', 'fewer than 8 different characters'],
  ])('refuses JWT_SECRET=%j because %s, without quoting it', (value, reason) => {
    const lines = problems({ JWT_SECRET: value, PASSWORD_PEPPER: randomBytes(24).toString('base64url') });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('JWT_SECRET="[redacted]" is invalid (');
    expect(lines[0]).toContain(reason);
    expect(lines[0]).not.toContain(JSON.stringify(value));
  });

  it('refuses any secret made of one repeated character, whatever its length', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 1 }), fc.integer({ min: 1, max: 200 }), (unit, times) => {
        expect(weakSecretReason(unit.repeat(times), 32)).toBeDefined();
      }),
    );
  });

  it('names the bad entry of JWT_SECRETS and the rule of PASSWORD_PEPPER', () => {
    const lines = problems({
      JWT_SECRETS: `${secret()},short`,
      PASSWORD_PEPPER: 'erpgo-secret-pepper-change-in-production',
    });
    expect(lines[0]).toMatch(/^JWT_SECRETS="\[redacted\]" is invalid \(secret 2 of 2: it is 5 bytes long; at least 32/);
    expect(lines[1]).toMatch(/^PASSWORD_PEPPER="\[redacted\]" is invalid \(it is a published default/);
  });

  it('takes JWT_SECRET as a list of one, and refuses both at once or neither', () => {
    const one = secret();
    const pepper = randomBytes(24).toString('base64url');
    expect(loadConfig({ ...REQUIRED, JWT_SECRET: one, PASSWORD_PEPPER: pepper }).jwtSecrets).toEqual([one]);
    expect(problems({ JWT_SECRET: one, JWT_SECRETS: secret(), PASSWORD_PEPPER: pepper })[0]).toContain(
      'JWT_SECRET is set as well; keep only JWT_SECRETS',
    );
    expect(problems({ PASSWORD_PEPPER: pepper })[0]).toMatch(/^JWT_SECRETS is not set but is required/);
  });
});
