import { describe, expect, test } from 'vitest';
import { fromBase64 } from './bytes.ts';
import {
  formatCheckpoint,
  MalformedCheckpointError,
  MissingLogSignatureError,
  openCheckpoint,
  OriginMismatchError,
  parseCheckpoint,
  signCheckpoint,
  type Checkpoint,
} from './checkpoint.ts';
import { formatVerifierKey, parseSignerKey, parseVerifierKey, signingKey } from './keys.ts';
import { InvalidSignatureError, signNote, UnverifiedNoteError } from './note.ts';

// Known answer from Go (golang.org/x/mod v0.43.0 sumdb/note), produced by a throwaway program
// outside the repo: two Ed25519 keys named onewindow.example/ledger, seeds 0x01..0x20 and
// 0x21..0x40, sign the body below with note.Sign(&note.Note{Text: body}, signer1, signer2);
// note.Open with only the second verifier key accepts it. Recompute by rerunning that program.
const GO = {
  origin: 'onewindow.example/ledger',
  signer1:
    'PRIVATE+KEY+onewindow.example/ledger+da3b8f6a+AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g',
  verifier1: 'onewindow.example/ledger+da3b8f6a+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk',
  signer2:
    'PRIVATE+KEY+onewindow.example/ledger+92815c99+ASEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj9A',
  verifier2: 'onewindow.example/ledger+92815c99+AefxYqEL7FWa/qGV5NzoS2lWjV0ssJY+tEbAaF4rF/Lw',
  body: 'onewindow.example/ledger\n17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n',
  rotated:
    'onewindow.example/ledger\n17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n' +
    '— onewindow.example/ledger 2juPapWPfE1PvGXKClo3Gh/gwsdIEr+2z7Getjz2iGW+O2935gDrZxvFkOjjcqCrNcXy46j5IIEeGkI+R59u1GwRjQ8=\n' +
    '— onewindow.example/ledger koFcmVMR5rO+5rZ4GjSRsUABnUR/iFF8oU9ptZ7nE8AfBfJGnUns0iD024WgA2nl+j1ZyjtxHYqVzhPLINCKe3SC4gE=\n',
};

const logKey = parseSignerKey(GO.signer1);
const nextKey = parseSignerKey(GO.signer2);
const logVerifier = parseVerifierKey(GO.verifier1);
const nextVerifier = parseVerifierKey(GO.verifier2);
const cp: Checkpoint = {
  origin: GO.origin,
  size: 17,
  rootHash: fromBase64('SBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I='),
  extensions: [],
};

describe('checkpoint body', () => {
  test('formatCheckpoint writes origin, size and base64 root, each on its own line', () => {
    expect(formatCheckpoint(cp)).toBe(GO.body);
  });

  test('parseCheckpoint reads back what formatCheckpoint wrote', () => {
    expect(parseCheckpoint(formatCheckpoint(cp))).toEqual(cp);
  });

  test('extension lines survive a round trip', () => {
    const withExt = { ...cp, extensions: ['ext one', 'ext two'] };
    expect(parseCheckpoint(formatCheckpoint(withExt))).toEqual(withExt);
  });

  test('the empty tree has size 0', () => {
    expect(
      parseCheckpoint(`${GO.origin}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n`).size,
    ).toBe(0);
  });

  test.each([
    [
      'a leading zero in the size',
      `${GO.origin}\n017\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n`,
    ],
    ['a signed size', `${GO.origin}\n+17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n`],
    [
      'a size beyond 2^53',
      `${GO.origin}\n9007199254740993\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n`,
    ],
    ['a 31-byte root', `${GO.origin}\n17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2dw==\n`],
    ['a root that is not base64', `${GO.origin}\n17\nnot base64\n`],
    ['an empty origin', `\n17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n`],
    ['only two lines', `${GO.origin}\n17\n`],
    ['no final newline', `${GO.origin}\n17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=`],
    [
      'an empty extension line',
      `${GO.origin}\n17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n`,
    ],
  ])('a body with %s is malformed', (_what, body) => {
    expect(() => parseCheckpoint(body)).toThrow(MalformedCheckpointError);
  });

  test('formatCheckpoint refuses a root that is not 32 bytes', () => {
    expect(() => formatCheckpoint({ ...cp, rootHash: new Uint8Array(31) })).toThrow(
      MalformedCheckpointError,
    );
  });
});

describe('signed checkpoints', () => {
  test('a checkpoint signed by the log opens with the log key and origin', () => {
    const opened = openCheckpoint(signCheckpoint(cp, logKey), GO.origin, [logVerifier]);
    expect(opened.checkpoint).toEqual(cp);
    expect(opened.body).toBe(GO.body);
  });

  test('signing with the old and new log keys reproduces the Go-produced rotation note', () => {
    expect(signCheckpoint(cp, logKey, [nextKey])).toBe(GO.rotated);
  });

  test('during a rotation a client pinned to the old key accepts the checkpoint', () => {
    expect(openCheckpoint(GO.rotated, GO.origin, [logVerifier]).logSignatures).toHaveLength(1);
  });

  test('during a rotation a client pinned to the new key accepts the checkpoint', () => {
    const opened = openCheckpoint(GO.rotated, GO.origin, [nextVerifier]);
    expect(opened.logSignatures.map((s) => s.keyHash)).toEqual([nextVerifier.keyHash]);
    expect(opened.note.unverified).toHaveLength(1);
  });

  test('a checkpoint signed by another key is refused', () => {
    const stranger = signingKey(GO.origin, new Uint8Array(32).fill(3));
    expect(() => openCheckpoint(signCheckpoint(cp, stranger), GO.origin, [logVerifier])).toThrow(
      UnverifiedNoteError,
    );
  });

  test('a checkpoint whose body was altered after signing is refused', () => {
    const tampered = signCheckpoint(cp, logKey).replace('\n17\n', '\n18\n');
    expect(() => openCheckpoint(tampered, GO.origin, [logVerifier])).toThrow(InvalidSignatureError);
  });

  test('a checkpoint for another origin is refused', () => {
    expect(() =>
      openCheckpoint(signCheckpoint(cp, logKey), 'other.example/log', [logVerifier]),
    ).toThrow(OriginMismatchError);
  });

  test('a checkpoint verified only by a non-log verifier is refused', () => {
    const witness = signingKey('witness.example', new Uint8Array(32).fill(5));
    const witnessVerifier = parseVerifierKey(formatVerifierKey(witness.name, witness.publicKey));
    const note = signCheckpoint(cp, witness);
    const asNoteVerifier = {
      name: witnessVerifier.name,
      keyHash: witnessVerifier.keyHash,
      verify: () => true,
    };
    expect(() => openCheckpoint(note, GO.origin, [logVerifier], [asNoteVerifier])).toThrow(
      MissingLogSignatureError,
    );
  });

  test('a malformed body signed by the log is reported as malformed', () => {
    expect(() =>
      openCheckpoint(signNote('not a checkpoint\n', [logKey]), GO.origin, [logVerifier]),
    ).toThrow(MalformedCheckpointError);
  });

  test('a malformed body without a log signature is refused before it is parsed', () => {
    const stranger = signingKey('stranger.example', new Uint8Array(32).fill(4));
    expect(() =>
      openCheckpoint(signNote('not a checkpoint\n', [stranger]), GO.origin, [logVerifier]),
    ).toThrow(UnverifiedNoteError);
  });
});
