// The witness's HTTP answers when something fails inside it: a fixed line, never the error's
// own message (pg's names hosts and users); Fastify's own refusals keep saying why.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { signCheckpoint } from '../ledger/checkpoint.ts';
import { formatVerifierKey, parseVerifierKey, signingKey } from '../ledger/keys.ts';
import { emptyRoot } from '../ledger/rfc9162.ts';
import { formatAddCheckpoint, type WitnessConfig } from '../ledger/witness.ts';
import { buildWitnessApp } from './witnessApp.ts';

// Deterministic keys: seed = 32 copies of one byte.
const ORIGIN = 'witness.test/log';
const logKey = signingKey(ORIGIN, new Uint8Array(32).fill(0x10));
const config: WitnessConfig = {
  key: signingKey('witness.test/w1', new Uint8Array(32).fill(0x20)),
  logs: new Map([[ORIGIN, [parseVerifierKey(formatVerifierKey(ORIGIN, logKey.publicKey))]]]),
};
/** A request the log signed, which the witness takes to its database. */
const request = formatAddCheckpoint(
  0,
  [],
  signCheckpoint({ origin: ORIGIN, size: 0, rootHash: emptyRoot(), extensions: [] }, logKey),
);
const DRIVER_MESSAGE = 'password authentication failed for user "witness" at db.internal:5432';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the witness when its database fails', () => {
  it('answers 500 with a fixed line in plain text, and logs what failed', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const pool = { connect: () => Promise.reject(new Error(DRIVER_MESSAGE)) };
    const app = buildWitnessApp({ pool: pool as never, config });
    const response = await app.inject({ method: 'POST', url: '/add-checkpoint', payload: request });
    await app.close();
    expect(response.statusCode).toBe(500);
    expect(response.body).toBe('internal error\n');
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(logged.mock.calls.flat().map(String).join(' ')).toContain(DRIVER_MESSAGE);
  });
});

describe("Fastify's own refusals", () => {
  it('answers a body over the limit with 413, saying why in plain text', async () => {
    const pool = { connect: () => Promise.reject(new Error('not reached')) };
    const app = buildWitnessApp({ pool: pool as never, config });
    const response = await app.inject({
      method: 'POST',
      url: '/add-checkpoint',
      payload: 'x'.repeat(64 * 1024 + 1),
    });
    await app.close();
    expect(response.statusCode).toBe(413);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.body).toMatch(/body is too large/i);
  });
});
