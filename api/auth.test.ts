import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../ledger/keys.ts';
import {
  CLOCK_TOLERANCE_SECONDS,
  issueToken,
  MAX_TOKEN_SECONDS,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  tokenVerifier,
  UnauthorizedError,
} from './auth.ts';

const issuer = generateSigningKey('tokens.test');
const supervisor = { role: 'supervisor', sub: 's-1' } as const;
const start = new Date('2026-11-24T12:00:00Z');
const after = (seconds: number) => new Date(start.getTime() + seconds * 1000);

describe('tokenVerifier', () => {
  it('accepts a valid token each time it is sent', async () => {
    const token = await issueToken(issuer.seed, supervisor, 60, start);
    const verify = tokenVerifier(issuer.publicKey, () => after(1));
    expect(await verify(token)).toEqual(supervisor);
    expect(await verify(token)).toEqual(supervisor);
  });

  it('refuses a token it accepted before once the token has expired, past the clock tolerance', async () => {
    const token = await issueToken(issuer.seed, supervisor, 60, start);
    let now = after(59);
    const verify = tokenVerifier(issuer.publicKey, () => now);
    await verify(token);
    now = after(60 + CLOCK_TOLERANCE_SECONDS - 1);
    expect(await verify(token)).toEqual(supervisor);
    now = after(60 + CLOCK_TOLERANCE_SECONDS);
    await expect(verify(token)).rejects.toThrow(new UnauthorizedError('the token expired'));
  });

  it('accepts a token from an issuer whose clock is a little ahead, not one from the future', async () => {
    const token = await issueToken(issuer.seed, supervisor, 60, after(20));
    expect(await tokenVerifier(issuer.publicKey, () => start)(token)).toEqual(supervisor);
    const early = await issueToken(issuer.seed, supervisor, 60, after(CLOCK_TOLERANCE_SECONDS + 5));
    await expect(tokenVerifier(issuer.publicKey, () => start)(early)).rejects.toThrow(
      UnauthorizedError,
    );
  });

  it('refuses a token signed elsewhere for years once it is older than the longest session', async () => {
    const iat = Math.floor(start.getTime() / 1000);
    const longLived = await new SignJWT({ role: 'supervisor' })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject('s-1')
      .setIssuedAt(iat)
      .setExpirationTime(iat + 10 * 365 * 24 * 3600)
      .sign(
        createPrivateKey({
          key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), issuer.seed]),
          format: 'der',
          type: 'pkcs8',
        }),
      );
    let now = after(60);
    const verify = tokenVerifier(issuer.publicKey, () => now);
    expect(await verify(longLived)).toEqual(supervisor);
    now = after(MAX_TOKEN_SECONDS + CLOCK_TOLERANCE_SECONDS + 1);
    await expect(verify(longLived)).rejects.toThrow(UnauthorizedError);
    await expect(tokenVerifier(issuer.publicKey, () => now)(longLived)).rejects.toThrow(
      UnauthorizedError,
    );
  });

  it('refuses a token signed by another key every time it is sent', async () => {
    const forger = generateSigningKey('tokens.forger');
    const token = await issueToken(forger.seed, supervisor, 60, start);
    const verify = tokenVerifier(issuer.publicKey, () => after(1));
    await expect(verify(token)).rejects.toThrow(UnauthorizedError);
    await expect(verify(token)).rejects.toThrow(UnauthorizedError);
  });
});
