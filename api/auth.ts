// Who is calling: signed bearer tokens (RFC 7519 JWT, EdDSA per RFC 8037) carrying one of the
// three roles. The API holds only the issuer's public key; `onewindow tokens` (or a real
// identity provider) holds the private one.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { Agency } from '../domain/agency.ts';
import { isUnusablePublicKey, UNUSABLE_KEY } from '../ledger/ed25519.ts';
import { LruMap } from '../ledger/lruMap.ts';

export const TOKEN_ISSUER = 'onewindow';
export const TOKEN_AUDIENCE = 'onewindow-api';
/** Longest token lifetime `issueToken` accepts: tokens are for sessions, not for keeps. */
export const MAX_TOKEN_SECONDS = 7 * 24 * 3600;

export const Role = z.enum(['citizen', 'officer', 'supervisor']);
export type Role = z.infer<typeof Role>;

const Subject = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/, 'must be 1-100 letters, digits or ._@-');

/** The caller as the token names them; an officer acts for exactly one agency. */
export const Principal = z.discriminatedUnion('role', [
  z.object({ role: z.literal('citizen'), sub: Subject }),
  z.object({ role: z.literal('officer'), sub: Subject, agency: Agency }),
  z.object({ role: z.literal('supervisor'), sub: Subject }),
]);
export type Principal = z.infer<typeof Principal>;

/** Missing, malformed, expired or forged credentials: HTTP 401. */
export class UnauthorizedError extends Error {
  override name = 'UnauthorizedError';
}

/** A valid caller asking for something their role may not do or see: HTTP 403. */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError';
  /** `field`: what the caller may not send or ask for; the token's role by default. */
  constructor(
    message: string,
    readonly field = 'authorization',
  ) {
    super(message);
  }
}

// DER prefixes that wrap a raw Ed25519 key (RFC 8410 §7 PKCS#8, §4 SubjectPublicKeyInfo).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function privateKeyObject(seed: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32)
    throw new RangeError(`an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  // OpenSSL would take a key of small order, under which anyone can make a token verify.
  if (isUnusablePublicKey(publicKey)) throw new RangeError(`the token public key ${UNUSABLE_KEY}`);
  return createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, publicKey]),
    format: 'der',
    type: 'spki',
  });
}

/**
 * A token for `principal`, signed with the issuer's Ed25519 `seed`, valid for `seconds`.
 * Requires 0 < seconds <= MAX_TOKEN_SECONDS. @throws RangeError otherwise.
 */
export async function issueToken(
  seed: Uint8Array,
  principal: Principal,
  seconds: number,
  now: Date = new Date(),
): Promise<string> {
  if (!Number.isInteger(seconds) || seconds <= 0 || seconds > MAX_TOKEN_SECONDS)
    throw new RangeError(`a token lives 1 to ${MAX_TOKEN_SECONDS} seconds, got ${seconds}`);
  const { sub, ...claims } = Principal.parse(principal);
  const issuedAt = Math.floor(now.getTime() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(sub)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + seconds)
    .sign(privateKeyObject(seed));
}

export interface VerifyToken {
  (token: string): Promise<Principal>;
  /**
   * Whether `token`'s signature was checked before and is remembered, so that checking it again
   * costs nothing (the API lets those through a client's limit on refused tokens).
   */
  remembers?: (token: string) => boolean;
}

/**
 * How far the issuer's clock may be from ours (RFC 7519 §4.1.4 leaves "some small leeway" to
 * the implementer): an identity provider a little ahead would otherwise issue tokens not yet
 * valid here.
 */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** Tokens whose signature each verifier remembers having checked. */
const VERIFIED_TOKENS_KEPT = 10_000;

/**
 * Verifies tokens signed by the issuer whose Ed25519 public key is `publicKey`: signature,
 * algorithm (EdDSA only, so no `alg: none` or HMAC confusion), issuer, audience and expiry.
 * @throws UnauthorizedError naming what is wrong.
 */
export function tokenVerifier(publicKey: Uint8Array, now?: () => Date): VerifyToken {
  const key = publicKeyObject(publicKey);
  // A session sends the same token with every request. Its signature, issuer and audience
  // hold for those exact bytes forever, so they are checked once (~0.2 ms) and only the
  // expiry again; the least recently used token is forgotten first.
  const verified = new LruMap<string, { principal: Principal; expiresAt: number }>(
    VERIFIED_TOKENS_KEPT,
  );
  const verify = async (token: string) => {
    const known = verified.get(token);
    if (known) {
      if ((now?.() ?? new Date()).getTime() >= known.expiresAt)
        throw new UnauthorizedError('the token expired');
      return known.principal;
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: ['EdDSA'],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        requiredClaims: ['sub', 'exp', 'iat'],
        // A token is refused once older than the longest one issueToken makes, whatever
        // its exp says: one signed elsewhere for years is not a session.
        maxTokenAge: MAX_TOKEN_SECONDS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        ...(now ? { currentDate: now() } : {}),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new UnauthorizedError('the token expired');
      if (error instanceof joseErrors.JWSSignatureVerificationFailed)
        throw new UnauthorizedError('the token signature does not verify');
      if (error instanceof joseErrors.JOSEError)
        throw new UnauthorizedError(`the token is not valid: ${error.message}`);
      throw error;
    }
    const principal = Principal.safeParse(payload);
    if (!principal.success)
      throw new UnauthorizedError(
        `the token names no valid role: ${principal.error.issues[0]?.message ?? 'invalid'}`,
      );
    // requiredClaims made jose check that exp and iat are numbers; they are in seconds. A
    // remembered token ends where jose would refuse it: at exp or at its maximum age.
    const endsAt =
      Math.min(payload.exp as number, (payload.iat as number) + MAX_TOKEN_SECONDS) +
      CLOCK_TOLERANCE_SECONDS;
    verified.set(token, { principal: principal.data, expiresAt: endsAt * 1000 });
    return principal.data;
  };
  return Object.assign(verify, { remembers: (token: string) => verified.has(token) });
}

/** The bearer token of an `Authorization` header. @throws UnauthorizedError when absent. */
export function bearerToken(header: string | undefined): string {
  if (!header) throw new UnauthorizedError('an Authorization: Bearer <token> header is required');
  const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i.exec(header.trim());
  if (!match) throw new UnauthorizedError('the Authorization header must be Bearer <token>');
  return match[1]!;
}

/** The caller's name for records: `officer:registry:o-17`, `supervisor:s-1`, `citizen:c-1`. */
export function actorOf(principal: Principal): string {
  return principal.role === 'officer'
    ? `officer:${principal.agency}:${principal.sub}`
    : `${principal.role}:${principal.sub}`;
}
