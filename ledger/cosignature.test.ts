import { describe, expect, test } from 'vitest';
import { fromHex, toBase64, toHex, utf8 } from './bytes.ts';
import {
  MalformedCheckpointError,
  MissingLogSignatureError,
  signCheckpoint,
  parseCheckpoint,
} from './checkpoint.ts';
import {
  COSIGNATURE_CLOCK_SKEW_SECONDS,
  cosign,
  cosignatureMessage,
  cosignerKey,
  cosignerKeyHash,
  cosignerKeyOf,
  countCosignatures,
  formatCosignerVerifierKey,
  InvalidCosignatureError,
  openWitnessedCheckpoint,
  parseCosignerVerifierKey,
  verifyCosignature,
  WitnessPolicyError,
} from './cosignature.ts';
import {
  formatVerifierKey,
  KeyFormatError,
  keyHash,
  keyIdOf,
  parseSignerKey,
  parseVerifierKey,
  signingKey,
} from './keys.ts';
import { addSignatureLines, InvalidSignatureError } from './note.ts';
import { loadTrust, TrustFileError } from './trust.ts';

// Known answer from Go, produced by a throwaway program outside the repo: the witness key
// (name below, Ed25519 seed 0x41..0x60) signs "cosignature/v1\ntime 1767225600\n" + BODY with
// crypto/ed25519, the line value is base64(keyID(0x04) || uint64be(time) || sig), and
// github.com/transparency-dev/formats v0.1.1 note.NewVerifierForCosignatureV1(WITNESS_VKEY_04)
// with golang.org/x/mod/sumdb/note.Open accepts COSIGNED. Recompute by rerunning that program.
const GO = {
  origin: 'onewindow.example/ledger',
  logSigner:
    'PRIVATE+KEY+onewindow.example/ledger+da3b8f6a+AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g',
  logVerifier: 'onewindow.example/ledger+da3b8f6a+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk',
  body: 'onewindow.example/ledger\n17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n',
  witnessName: 'witness.tax.onewindow.example',
  witnessVkey01:
    'witness.tax.onewindow.example+143ef961+Aa3BQBH4LRxW2VaqT51z2IWDYaYGBIUl4NCMY43HXdjH',
  witnessVkey04:
    'witness.tax.onewindow.example+bbd4cad3+BK3BQBH4LRxW2VaqT51z2IWDYaYGBIUl4NCMY43HXdjH',
  timestamp: 1767225600,
  line: '— witness.tax.onewindow.example u9TK0wAAAABpVbkAol9Y+/ntjQb66CX4o5qisnOkUSjXxKnTjF4bXLGnu1uPhsLIRxSO7hat78BXgu6U7QujDexNy9RykgPFlhtfCQ==\n',
  cosigned:
    'onewindow.example/ledger\n17\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n' +
    '— onewindow.example/ledger 2juPapWPfE1PvGXKClo3Gh/gwsdIEr+2z7Getjz2iGW+O2935gDrZxvFkOjjcqCrNcXy46j5IIEeGkI+R59u1GwRjQ8=\n' +
    '— witness.tax.onewindow.example u9TK0wAAAABpVbkAol9Y+/ntjQb66CX4o5qisnOkUSjXxKnTjF4bXLGnu1uPhsLIRxSO7hat78BXgu6U7QujDexNy9RykgPFlhtfCQ==\n',
};

const seed = (start: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => start + i);
const witness = signingKey(GO.witnessName, seed(0x41));
const witnessKey = cosignerKeyOf(witness);
const logKey = parseSignerKey(GO.logSigner);
const logVerifier = parseVerifierKey(GO.logVerifier);
const others = [2, 3, 4].map((n) =>
  signingKey(`witness${n}.onewindow.example`, new Uint8Array(32).fill(n)),
);
const checkpointNote = signCheckpoint(parseCheckpoint(GO.body), logKey);

describe('cosignature/v1 format', () => {
  test('the key id uses signature type 0x04, so it differs from the 0x01 note key id', () => {
    expect(toHex(cosignerKeyHash(witness.name, witness.publicKey))).toBe('bbd4cad3');
    expect(toHex(keyHash(witness.name, witness.publicKey))).toBe('143ef961');
  });

  test('the signed message is the header, the time line, then the checkpoint body', () => {
    expect(cosignatureMessage(GO.body, 1679315147)).toEqual(
      utf8(`cosignature/v1\ntime 1679315147\n${GO.body}`),
    );
  });

  test('cosigning with a fixed time reproduces the Go-produced signature line', () => {
    expect(cosign(GO.body, witness, GO.timestamp)).toBe(GO.line);
  });

  test('the cosigner verifier key matches the Go 0x04 vkey', () => {
    expect(formatCosignerVerifierKey(witness.name, witness.publicKey)).toBe(GO.witnessVkey04);
  });

  test('a 0x04 vkey and the plain 0x01 vkey parse to the same cosigner key', () => {
    expect(parseCosignerVerifierKey(GO.witnessVkey04)).toEqual(
      parseCosignerVerifierKey(GO.witnessVkey01),
    );
  });

  test('a cosigner vkey whose id does not match its key is refused', () => {
    expect(() =>
      parseCosignerVerifierKey(GO.witnessVkey04.replace('bbd4cad3', 'bbd4cad4')),
    ).toThrow(KeyFormatError);
    expect(() =>
      parseCosignerVerifierKey(GO.witnessVkey04.replace('bbd4cad3', 'bbd4cad4')),
    ).toThrow('cosigner key id bbd4cad4 does not match its key (expected bbd4cad3)');
  });

  test('only a checkpoint body can be cosigned', () => {
    expect(() => cosign('not a checkpoint\n', witness, GO.timestamp)).toThrow(
      MalformedCheckpointError,
    );
  });

  test('a negative or fractional timestamp is refused', () => {
    expect(() => cosign(GO.body, witness, -1)).toThrow(RangeError);
    expect(() => cosign(GO.body, witness, 1.5)).toThrow(RangeError);
  });
});

describe('verifyCosignature', () => {
  test('the Go-produced cosignature verifies and reports its timestamp', () => {
    expect(verifyCosignature(GO.body, GO.line, witnessKey)).toEqual({
      name: witness.name,
      keyHash: witnessKey.keyHash,
      timestamp: GO.timestamp,
    });
  });

  test('a cosignature over another checkpoint is refused', () => {
    const other = GO.body.replace('\n17\n', '\n18\n');
    expect(() => verifyCosignature(other, GO.line, witnessKey)).toThrow(InvalidCosignatureError);
  });

  test('a cosignature checked against another witness key is refused', () => {
    expect(() => verifyCosignature(GO.body, GO.line, cosignerKeyOf(others[0]!))).toThrow(
      InvalidCosignatureError,
    );
  });

  test('a cosignature whose timestamp was changed is refused', () => {
    const line = cosign(GO.body, witness, GO.timestamp);
    const raw = Uint8Array.from(atob(line.trim().split(' ')[2]!), (c) => c.charCodeAt(0));
    raw[11]! ^= 1; // last byte of the timestamp
    const forged = `— ${witness.name} ${btoa(String.fromCharCode(...raw))}\n`;
    expect(() => verifyCosignature(GO.body, forged, witnessKey)).toThrow(InvalidCosignatureError);
  });
});

describe('witness policy', () => {
  const witnesses = [witnessKey, ...others.map(cosignerKeyOf)];
  const cosignedBy = (keys: typeof others, ts = GO.timestamp): string =>
    addSignatureLines(
      checkpointNote,
      keys.map((k) => cosign(GO.body, k, ts)),
    );

  test('the Go-produced cosigned checkpoint meets a 1-of-4 policy', () => {
    const result = openWitnessedCheckpoint(GO.cosigned, GO.origin, [logVerifier], {
      witnesses,
      threshold: 1,
    });
    expect(result.cosignatures.map((c) => c.name)).toEqual([GO.witnessName]);
    expect(result.checkpoint.size).toBe(17);
  });

  test('distinct witnesses are counted once each', () => {
    const note = cosignedBy([witness, others[0]!, others[1]!]);
    const doubled = addSignatureLines(note, [cosign(GO.body, witness, GO.timestamp + 60)]);
    expect(countCosignatures(doubled, witnesses).map((c) => c.name)).toEqual([
      witness.name,
      others[0]!.name,
      others[1]!.name,
    ]);
  });

  test('a checkpoint with k cosignatures meets a k-of-n policy', () => {
    const note = cosignedBy([witness, others[2]!]);
    expect(
      openWitnessedCheckpoint(note, GO.origin, [logVerifier], { witnesses, threshold: 2 })
        .cosignatures,
    ).toHaveLength(2);
  });

  test('one key listed under two names counts as one witness: its holder signs once and shows it under both', () => {
    const alias = signingKey('alias.onewindow.example', seed(0x41));
    const note = cosignedBy([witness, alias]);
    const policy = { witnesses: [witnessKey, cosignerKeyOf(alias), ...witnesses], threshold: 2 };
    expect(() => openWitnessedCheckpoint(note, GO.origin, [logVerifier], policy)).toThrow(
      WitnessPolicyError,
    );
    const withAnother = addSignatureLines(note, [cosign(GO.body, others[0]!, GO.timestamp)]);
    expect(
      openWitnessedCheckpoint(withAnother, GO.origin, [logVerifier], policy).cosignatures.map(
        (c) => c.name,
      ),
    ).toEqual([witness.name, others[0]!.name]);
  });

  test('a key of small order is refused as a log key, a witness key and an agency key, naming it', () => {
    // Under the identity point as key, R = B and S = 1 verify for any message.
    const identity = fromHex('01' + '00'.repeat(31));
    const reason = /is no usable Ed25519 public key \(no curve point, or one of small order/;
    expect(() => parseVerifierKey(formatVerifierKey('weak.example/log', identity))).toThrow(reason);
    expect(() =>
      parseCosignerVerifierKey(formatCosignerVerifierKey('weak.example/w', identity)),
    ).toThrow(reason);
    const trust = {
      origin: GO.origin,
      logKeys: [GO.logVerifier],
      witnesses: [formatCosignerVerifierKey(witness.name, witness.publicKey)],
      witnessThreshold: 1,
      agencyKeys: [
        {
          keyId: keyIdOf('tax', identity),
          agency: 'tax',
          publicKey: toBase64(identity),
          validFrom: '1970-01-01T00:00:00.000Z',
          validUntil: null,
        },
      ],
    };
    expect(() => loadTrust(trust)).toThrow(TrustFileError);
    expect(() => loadTrust(trust)).toThrow(reason);
    expect(loadTrust({ ...trust, agencyKeys: [] }).policy.witnesses).toHaveLength(1);
  });

  test('a trust file naming one witness key twice is refused', () => {
    const alias = signingKey('alias.onewindow.example', seed(0x41));
    const trust = {
      origin: GO.origin,
      logKeys: [GO.logVerifier],
      witnesses: [
        formatCosignerVerifierKey(witness.name, witness.publicKey),
        formatCosignerVerifierKey(alias.name, alias.publicKey),
      ],
      witnessThreshold: 2,
      agencyKeys: [],
    };
    expect(() => loadTrust(trust)).toThrow(TrustFileError);
    expect(() => loadTrust(trust)).toThrow(/same public key; one key counts as one witness/);
    expect(() =>
      loadTrust({ ...trust, witnesses: [trust.witnesses[0], trust.witnesses[0]] }),
    ).toThrow(`trust file: witnesses: ${witness.name} is listed twice`);
    expect(
      loadTrust({ ...trust, witnesses: [trust.witnesses[0]], witnessThreshold: 1 }).policy
        .witnesses,
    ).toHaveLength(1);
  });

  test('a checkpoint with fewer than k cosignatures fails the policy', () => {
    const note = cosignedBy([witness]);
    expect(() =>
      openWitnessedCheckpoint(note, GO.origin, [logVerifier], { witnesses, threshold: 2 }),
    ).toThrow(WitnessPolicyError);
  });

  test('cosignatures by witnesses outside the policy do not count', () => {
    const outsider = signingKey('outsider.example', new Uint8Array(32).fill(99));
    const note = cosignedBy([witness, outsider]);
    expect(() =>
      openWitnessedCheckpoint(note, GO.origin, [logVerifier], { witnesses, threshold: 2 }),
    ).toThrow(WitnessPolicyError);
  });

  test('a plain Ed25519 signature by a witness key is not a cosignature', () => {
    const plain = signCheckpoint(parseCheckpoint(GO.body), logKey, [witness]);
    expect(countCosignatures(plain, witnesses)).toEqual([]);
  });

  test('a cosignature over a different checkpoint rejects the note', () => {
    const wrongLine = cosign(GO.body.replace('\n17\n', '\n18\n'), witness, GO.timestamp);
    const note = addSignatureLines(checkpointNote, [wrongLine]);
    expect(() => countCosignatures(note, witnesses)).toThrow(InvalidSignatureError);
  });

  test('the log signature is still required when witnesses cosigned', () => {
    const stranger = signingKey(GO.origin, new Uint8Array(32).fill(42));
    const note = addSignatureLines(signCheckpoint(parseCheckpoint(GO.body), stranger), [
      cosign(GO.body, witness, GO.timestamp),
    ]);
    expect(() =>
      openWitnessedCheckpoint(note, GO.origin, [logVerifier], { witnesses, threshold: 1 }),
    ).toThrow(MissingLogSignatureError);
  });

  // tlog-cosignature §Format: "verifiers MAY reject cosignatures with timestamps in the future".
  test('a cosignature timestamped within the clock skew allowance of the verifier’s clock counts', () => {
    const policy = { witnesses, threshold: 1 };
    for (const now of [GO.timestamp - COSIGNATURE_CLOCK_SKEW_SECONDS, GO.timestamp + 86_400]) {
      const opened = openWitnessedCheckpoint(GO.cosigned, GO.origin, [logVerifier], policy, now);
      expect(opened.cosignatures.map((c) => [c.name, c.timestamp])).toEqual([
        [GO.witnessName, GO.timestamp],
      ]);
      expect(opened.aheadOfClock).toEqual([]);
    }
  });

  /** `note` opened under a policy of one of the witnesses, judged at `now` if given. */
  const openWithOneOf = (note: string, now?: number) =>
    openWitnessedCheckpoint(note, GO.origin, [logVerifier], { witnesses, threshold: 1 }, now);

  test('a cosignature timestamped past the verifier’s clock and its allowance is not counted, and is named with its time', () => {
    const now = GO.timestamp - COSIGNATURE_CLOCK_SKEW_SECONDS - 1;
    const open = () => openWithOneOf(GO.cosigned, now);
    expect(open).toThrow(
      new WitnessPolicyError(
        1,
        [],
        [{ name: GO.witnessName, keyHash: witnessKey.keyHash, timestamp: GO.timestamp }],
      ),
    );
    expect(open).toThrow(
      `checkpoint needs cosignatures from 1 distinct witnesses, found 0; not counted, timestamped more than 300 s past this verifier's clock (tlog-cosignature §Format): ${GO.witnessName} at 2026-01-01T00:00:00Z`,
    );
  });

  test('a witness ahead of the clock is reported when the others meet the policy, and one that also cosigned in time counts', () => {
    const ahead = GO.timestamp + 3600;
    const note = addSignatureLines(cosignedBy([witness]), [
      cosign(GO.body, witness, ahead),
      cosign(GO.body, others[0]!, ahead),
    ]);
    const opened = openWithOneOf(note, GO.timestamp);
    expect(opened.cosignatures.map((c) => c.name)).toEqual([witness.name]);
    expect(opened.aheadOfClock.map((c) => [c.name, c.timestamp])).toEqual([
      [others[0]!.name, ahead],
    ]);
  });

  test('a cosignature timestamped past what a Date holds is named by its POSIX seconds, not a crash', () => {
    const note = cosignedBy([witness], Number.MAX_SAFE_INTEGER);
    expect(() => openWithOneOf(note, GO.timestamp)).toThrow(
      `${witness.name} at POSIX time ${Number.MAX_SAFE_INTEGER}`,
    );
  });

  test('without the verifier’s clock, no cosignature is judged by its time', () => {
    const note = cosignedBy([witness], Number.MAX_SAFE_INTEGER);
    const opened = openWithOneOf(note);
    expect(opened.cosignatures.map((c) => c.timestamp)).toEqual([Number.MAX_SAFE_INTEGER]);
  });

  test('a verifier’s clock that is no whole number of seconds is refused', () => {
    for (const now of [Number.NaN, 1.5, -1])
      expect(() => openWithOneOf(GO.cosigned, now)).toThrow(RangeError);
  });

  test('a threshold larger than the witness set is refused', () => {
    expect(() =>
      openWitnessedCheckpoint(GO.cosigned, GO.origin, [logVerifier], {
        witnesses: [cosignerKey(witness.name, witness.publicKey)],
        threshold: 2,
      }),
    ).toThrow(RangeError);
  });
});
