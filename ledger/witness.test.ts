import { describe, expect, test } from 'vitest';
import { toBase64 } from './bytes.ts';
import { signCheckpoint } from './checkpoint.ts';
import { cosignerKeyOf, verifyCosignature } from './cosignature.ts';
import { formatVerifierKey, parseVerifierKey, signingKey } from './keys.ts';
import { rootFromLeafHashes } from './proof.ts';
import { signNote } from './note.ts';
import { hashLeaf } from './rfc9162.ts';
import {
  decideAddCheckpoint,
  formatAddCheckpoint,
  stateFromRecord,
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
    // The body is the witness's cosignature/v1 line over the checkpoint's body, made now.
    const signed = note(3);
    const checkpointBody = signed.slice(0, signed.indexOf('\n\n') + 1);
    const witness = cosignerKeyOf(config.key);
    expect(verifyCosignature(checkpointBody, answer.body, witness)).toEqual({
      name: 'witness.test/w1',
      keyHash: witness.keyHash,
      timestamp: NOW(),
    });
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

describe('decideAddCheckpoint reports misbehaviour and words malformed requests', () => {
  /** The answer to `old <oldSize>` and `signed`, against a witness holding `heldSize`. */
  const answerTo = (oldSize: number, signed: string, heldSize: number) =>
    decideAddCheckpoint(config, formatAddCheckpoint(oldSize, [], signed), stateOf(heldSize), NOW);
  /** A log-signed checkpoint of `size` leaves other than the ones the witness cosigned. */
  const forkNote = (size: number) =>
    signCheckpoint(
      {
        origin: ORIGIN,
        size,
        rootHash: rootFromLeafHashes(
          [7, 8, 9].slice(0, size).map((n) => hashLeaf(new Uint8Array([n]))),
        ),
        extensions: [],
      },
      logKey,
    );

  test('reports a split view when offered another checkpoint of the size it holds, even under a stale old size', () => {
    const answer = answerTo(2, forkNote(3), 3);
    expect(answer).toMatchObject({
      status: 409,
      body: '3\n',
      alarm: 'two different checkpoints of size 3: a split view of the log',
    });
  });

  test("refuses a checkpoint of size 0 whose root is not the empty tree's while it holds nothing, with an alarm", () => {
    // With nothing cosigned its size is 0, and the tree of size 0 has one root: SHA-256().
    const falseEmpty = signCheckpoint(
      { origin: ORIGIN, size: 0, rootHash: new Uint8Array(32).fill(7), extensions: [] },
      logKey,
    );
    expect(answerTo(0, falseEmpty, 0)).toMatchObject({
      status: 409,
      body: '0\n',
      alarm: "a checkpoint of size 0 whose root hash is not the empty tree's",
    });
    expect(answerTo(0, note(0), 0).status).toBe(200);
  });

  test('words a second empty line before the checkpoint as a malformed request (400), not as an unknown origin (404)', () => {
    const answer = decideAddCheckpoint(config, `old 0\n\n\n${note(1)}`, stateOf(0), NOW);
    expect(answer).toMatchObject({
      status: 400,
      body: 'malformed checkpoint: its origin line is empty\n',
    });
  });

  test('raises no alarm for a stale old size with the checkpoint it holds, or a larger one', () => {
    for (const body of [formatAddCheckpoint(1, [], note(3)), formatAddCheckpoint(3, [], note(3))]) {
      const answer = decideAddCheckpoint(config, body, stateOf(2), NOW);
      expect(answer).toMatchObject({ status: 409, body: '2\n' });
      expect('alarm' in answer && answer.alarm).toBeFalsy();
    }
    const same = answerTo(2, note(3), 3);
    expect(same).toMatchObject({ status: 409, body: '3\n' });
    expect('alarm' in same && same.alarm).toBeFalsy();
  });

  test('raises no alarm for what anyone could send: an older checkpoint again, an old size above the checkpoint, a proof that does not verify (a suspicion only, named by its checkpoint)', () => {
    // The log's own checkpoint of size 2, public since it was published, offered again.
    const older = signCheckpoint(
      { origin: ORIGIN, size: 2, rootHash: rootFromLeafHashes(leaves.slice(0, 2)), extensions: [] },
      logKey,
    );
    const replayed = answerTo(1, older, 3);
    expect(replayed).toMatchObject({ status: 409, body: '3\n' });
    expect('alarm' in replayed && replayed.alarm).toBeFalsy();
    const above = answerTo(3, older, 3);
    expect(above.status).toBe(400);
    expect('alarm' in above && above.alarm).toBeFalsy();
    const badProof = decideAddCheckpoint(
      config,
      formatAddCheckpoint(2, [toBase64(new Uint8Array(32).fill(1))], note(3)),
      stateOf(2),
      NOW,
    );
    expect(badProof).toMatchObject({ status: 422 });
    expect('alarm' in badProof && badProof.alarm).toBe(
      `no consistency proof sent from cosigned size 2 to the checkpoint of size 3 and root ${toBase64(rootFromLeafHashes(leaves))} verified: a fork of the log, or a bad proof from whoever sent it`,
    );
  });

  test('answers 400, not 403, for a note the log signed whose text is not a checkpoint', () => {
    const root = toBase64(rootFromLeafHashes(leaves));
    const notCheckpoint = signNote(`${ORIGIN}\n03\n${root}\n`, [logKey]);
    const answer = answerTo(0, notCheckpoint, 0);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(/^malformed checkpoint: /);
  });

  test('answers 403 for a checkpoint no trusted key signed', () => {
    const stranger = signingKey(ORIGIN, new Uint8Array(32).fill(0x30));
    const unsigned = signCheckpoint(
      { origin: ORIGIN, size: 3, rootHash: rootFromLeafHashes(leaves), extensions: [] },
      stranger,
    );
    const answer = answerTo(0, unsigned, 0);
    expect(answer.status).toBe(403);
  });
});

describe('stateFromRecord', () => {
  const answer = decideAddCheckpoint(config, formatAddCheckpoint(0, [], note(3)), stateOf(0), NOW);
  if (answer.status !== 200) throw new Error('the witness should cosign a first checkpoint');
  const record = {
    size: 3,
    rootHash: rootFromLeafHashes(leaves),
    checkpointBody: answer.checkpointBody,
    cosignature: answer.body,
  };

  test("is the state a record stands for when the witness's own cosignature verifies", () => {
    expect(stateFromRecord(record, config.key, ORIGIN)).toEqual({
      size: 3,
      rootHash: rootFromLeafHashes(leaves),
    });
  });

  test('is nothing for a record whose columns, text, origin or cosigner differ', () => {
    const other = signingKey('witness.test/w2', new Uint8Array(32).fill(0x21));
    for (const [why, forged, origin] of [
      ['a larger size', { ...record, size: 4 }, ORIGIN],
      ['another root', { ...record, rootHash: new Uint8Array(32).fill(9) }, ORIGIN],
      ['no cosignature', { ...record, cosignature: 'forged' }, ORIGIN],
      ['another log', record, 'other.test/log'],
    ] as const)
      expect(stateFromRecord(forged, config.key, origin), why).toBeUndefined();
    expect(stateFromRecord(record, other, ORIGIN)).toBeUndefined();
  });
});
