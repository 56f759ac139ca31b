import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../ledger/keys.ts';
import { issueToken, tokenVerifier, UnauthorizedError } from './auth.ts';

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

  it('refuses a token it accepted before once the token has expired', async () => {
    const token = await issueToken(issuer.seed, supervisor, 60, start);
    let now = after(59);
    const verify = tokenVerifier(issuer.publicKey, () => now);
    await verify(token);
    now = after(60);
    await expect(verify(token)).rejects.toThrow(new UnauthorizedError('the token expired'));
  });

  it('refuses a token signed by another key every time it is sent', async () => {
    const forger = generateSigningKey('tokens.forger');
    const token = await issueToken(forger.seed, supervisor, 60, start);
    const verify = tokenVerifier(issuer.publicKey, () => after(1));
    await expect(verify(token)).rejects.toThrow(UnauthorizedError);
    await expect(verify(token)).rejects.toThrow(UnauthorizedError);
  });
});
