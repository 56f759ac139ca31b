import { describe, expect, test } from 'vitest';
import { toBase64 } from './bytes.ts';
import { signCheckpoint } from './checkpoint.ts';
import { formatVerifierKey, parseVerifierKey, signingKey } from './keys.ts';
import { rootFromLeafHashes } from './proof.ts';
import { hashLeaf } from './rfc9162.ts';
import {
  decideAddCheckpoint,
  formatAddCheckpoint,
  type WitnessConfig,
  type WitnessState,
} from './witness.ts';

// Deterministic keys: seed = 32 copies of one byte.
const ORIGIN = 'witness.test/log';
const logKey = signingKey(ORIGIN, new Uint8Array(32).fill(0x10));
const config: WitnessConfig = {
  key: signingKey('witness.test/w1', new Uint8Array(32).fill(0x20)),
  logs: new Map([[ORIGIN, [parseVerifierKey(formatVerifierKey(ORIGIN, logKey.publicKey))]]]),
};
const NOW = () => 1767225600; // 2026-01-01T00:00:00Z in POSIX seconds

const leaves = [1, 2, 3].map((n) => hashLeaf(new Uint8Array([n])));
/** A log-signed checkpoint of the first `size` leaves. */
const note = (size: number) =>
  signCheckpoint(
    { origin: ORIGIN, size, rootHash: rootFromLeafHashes(leaves.slice(0, size)), extensions: [] },
    logKey,
  );
const stateOf = (size: number) => (): WitnessState | undefined =>
  size === 0 ? undefined : { size, rootHash: rootFromLeafHashes(leaves.slice(0, size)) };
/** Any hash: a proof line where the proof must have none. */
const STRAY_LINE = toBase64(leaves[0]!);

describe('decideAddCheckpoint', () => {
  test('cosigns the checkpoint it already holds again, with the empty proof', () => {
    const answer = decideAddCheckpoint(
      config,
      formatAddCheckpoint(3, [], note(3)),
      stateOf(3),
      NOW,
    );
    expect(answer.status).toBe(200);
  });

  // tlog-witness: the proof lines MUST be an RFC 6962 consistency proof from the old size to
  // the checkpoint size, which is empty between equal sizes; one that does not verify is 422.
  test.each([
    ['the size it holds', 3],
    ['size 0, never cosigned', 0],
  ])('refuses a non-empty consistency proof from %s to the same size', (_, size) => {
    const answer = decideAddCheckpoint(
      config,
      formatAddCheckpoint(size, [STRAY_LINE], note(size)),
      stateOf(size),
      NOW,
    );
    expect(answer).toMatchObject({
      status: 422,
      body: `the consistency proof from size ${size} to the same size must be empty, found 1 proof line\n`,
    });
  });
});
