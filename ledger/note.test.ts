import { describe, expect, test } from 'vitest';
import { utf8 } from './bytes.ts';
import { signEd25519 } from './ed25519.ts';
import { formatVerifierKey, parseSignerKey, parseVerifierKey, signingKey } from './keys.ts';
import {
  addSignatureLines,
  AmbiguousVerifierError,
  InvalidSignatureError,
  isValidKeyName,
  MalformedNoteError,
  openNote,
  signNote,
  splitNote,
  UnverifiedNoteError,
} from './note.ts';

// Known answers from Go. The first pair is the example in the documentation of
// golang.org/x/mod/sumdb/note (note.go, "Example"). The second was produced by a throwaway
// Go program (not in the repo) with golang.org/x/mod v0.43.0:
//   skey := "PRIVATE+KEY+onewindow.example/ledger+da3b8f6a+AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
//   msg, _ := note.Sign(&note.Note{Text: "hello, onewindow\n\nsecond paragraph\n"}, must(note.NewSigner(skey)))
// (the seed is the bytes 0x01..0x20). Recompute by running that program and pasting its output.
const GO_DOC = {
  signer: 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz',
  verifier: 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
  text: "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
  signed:
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n" +
    '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n',
};

const GO_ONEWINDOW = {
  signer:
    'PRIVATE+KEY+onewindow.example/ledger+da3b8f6a+AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g',
  verifier: 'onewindow.example/ledger+da3b8f6a+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk',
  text: 'hello, onewindow\n\nsecond paragraph\n',
  signed:
    'hello, onewindow\n\nsecond paragraph\n\n' +
    '— onewindow.example/ledger 2juPamQzhOjXXZ15ylqSQSvJGKJG0eHioo4cqri7V/9MR94XaJvKc1bc1Ql+rLWlS0/TpTKVrQBdpVy0mRlN7iHjbwk=\n',
};

const alice = signingKey('alice.example/log', new Uint8Array(32).fill(7));
const bob = signingKey('bob.example/log', new Uint8Array(32).fill(9));
const aliceVerifier = parseVerifierKey(formatVerifierKey(alice.name, alice.publicKey));
const bobVerifier = parseVerifierKey(formatVerifierKey(bob.name, bob.publicKey));
const carol = signingKey('carol.example/log', new Uint8Array(32).fill(11));
const carolVerifier = parseVerifierKey(formatVerifierKey(carol.name, carol.publicKey));
const TEXT = 'line one\nline two\n';

describe('signNote and openNote agree with Go', () => {
  test('signing the Go documentation example reproduces its signed note byte for byte', () => {
    expect(signNote(GO_DOC.text, [parseSignerKey(GO_DOC.signer)])).toBe(GO_DOC.signed);
  });

  test('opening the Go documentation example verifies it with the published verifier key', () => {
    const opened = openNote(GO_DOC.signed, [parseVerifierKey(GO_DOC.verifier)]);
    expect(opened.text).toBe(GO_DOC.text);
    expect(opened.verified.map((s) => s.name)).toEqual(['PeterNeumann']);
  });

  test('a note whose text contains a blank line matches the Go-produced note', () => {
    expect(signNote(GO_ONEWINDOW.text, [parseSignerKey(GO_ONEWINDOW.signer)])).toBe(
      GO_ONEWINDOW.signed,
    );
  });

  test('the text of a Go-produced note ends at the last blank line', () => {
    expect(openNote(GO_ONEWINDOW.signed, [parseVerifierKey(GO_ONEWINDOW.verifier)]).text).toBe(
      GO_ONEWINDOW.text,
    );
  });

  test('a verifier key whose base64 contains a plus sign parses', () => {
    expect(parseVerifierKey(GO_ONEWINDOW.verifier).name).toBe('onewindow.example/ledger');
  });
});

describe('round trips', () => {
  test('a note signed by one key opens with that key', () => {
    const opened = openNote(signNote(TEXT, [alice]), [aliceVerifier]);
    expect(opened.text).toBe(TEXT);
    expect(opened.verified).toHaveLength(1);
    expect(opened.unverified).toHaveLength(0);
  });

  test('a note opens from its UTF-8 bytes too', () => {
    expect(openNote(utf8(signNote(TEXT, [alice])), [aliceVerifier]).text).toBe(TEXT);
  });

  test('signatures by keys the reader does not know are listed as unverified', () => {
    const opened = openNote(signNote(TEXT, [alice, bob]), [aliceVerifier]);
    expect(opened.verified.map((s) => s.name)).toEqual([alice.name]);
    expect(opened.unverified.map((s) => s.name)).toEqual([bob.name]);
  });

  test('re-signing keeps existing signatures first and replaces those by the same key', () => {
    const once = openNote(signNote(TEXT, [carol, alice]), [carolVerifier, aliceVerifier]);
    expect(once.verified.map((s) => s.name)).toEqual([carol.name, alice.name]);
    const twice = signNote(TEXT, [bob, alice], once.verified);
    const lines = splitNote(twice).signatures.map((s) => s.name);
    // carol's is kept, before the new ones; alice's old line gives way to her new one.
    expect(lines).toEqual([carol.name, bob.name, alice.name]);
    const opened = openNote(twice, [carolVerifier, bobVerifier, aliceVerifier]);
    expect(opened.verified.map((s) => s.name)).toEqual([carol.name, bob.name, alice.name]);
    expect(opened.verified[0]!.base64).toBe(once.verified[0]!.base64);
  });

  test('addSignatureLines appends new lines and drops ones already present', () => {
    const note = signNote(TEXT, [alice]);
    const aliceLine = note.split('\n\n')[1]!;
    const bobLine = signNote(TEXT, [bob]).split('\n\n')[1]!;
    const merged = addSignatureLines(note, [aliceLine, bobLine, bobLine]);
    expect(merged).toBe(`${note}${bobLine}`);
    expect(splitNote(merged).signatures.map((s) => s.name)).toEqual([alice.name, bob.name]);
    expect(openNote(merged, [aliceVerifier, bobVerifier]).verified).toHaveLength(2);
  });
});

describe('rejections', () => {
  test('a note signed only by an unknown key is unverified', () => {
    expect(() => openNote(signNote(TEXT, [bob]), [aliceVerifier])).toThrow(UnverifiedNoteError);
  });

  test('a tampered body fails the known key', () => {
    const tampered = signNote(TEXT, [alice]).replace('line two', 'line 2!!');
    expect(() => openNote(tampered, [aliceVerifier])).toThrow(InvalidSignatureError);
  });

  test('a signature claiming a known name and key id but made by another key fails', () => {
    const forged = signNote(TEXT, [
      {
        name: alice.name,
        keyHash: aliceVerifier.keyHash,
        sign: (m: Uint8Array) => signEd25519(bob.seed, m),
      },
    ]);
    expect(() => openNote(forged, [aliceVerifier])).toThrow(InvalidSignatureError);
  });

  test('a key with the right name but another key id is ignored, not trusted', () => {
    const other = signingKey(alice.name, new Uint8Array(32).fill(1));
    expect(() => openNote(signNote(TEXT, [other]), [aliceVerifier])).toThrow(UnverifiedNoteError);
  });

  test('two configured verifiers with the same name and key id are ambiguous', () => {
    const twin = { ...aliceVerifier, publicKey: bob.publicKey };
    expect(() => openNote(signNote(TEXT, [alice]), [aliceVerifier, twin])).toThrow(
      AmbiguousVerifierError,
    );
  });

  test('a known key signing twice counts once', () => {
    const note = signNote(TEXT, [alice]);
    const doubled = `${note}${note.split('\n\n')[1]!}`;
    expect(openNote(doubled, [aliceVerifier]).verified).toHaveLength(1);
  });

  test("a known key's later signature is verified too: a bad one after a good one fails the note", () => {
    const note = signNote(TEXT, [alice]);
    const forged = signNote('another text\n', [alice]).split('\n\n')[1]!;
    expect(() => openNote(`${note}${forged}`, [aliceVerifier])).toThrow(InvalidSignatureError);
  });

  test('a leading byte-order mark is part of the text, so the signature does not cover it', () => {
    const note = utf8(signNote(TEXT, [alice]));
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...note]);
    expect(openNote(note, [aliceVerifier]).text).toBe(TEXT);
    expect(() => openNote(withBom, [aliceVerifier])).toThrow(InvalidSignatureError);
  });

  test('text without a final newline cannot be signed', () => {
    expect(() => signNote('no newline', [alice])).toThrow(MalformedNoteError);
  });

  test('text with a control character cannot be signed', () => {
    expect(() => signNote('tab\there\n', [alice])).toThrow(MalformedNoteError);
  });

  test.each([
    ['no blank line before the signatures', 'text\n— alice.example/log AAAAAAA=\n'],
    ['no signature lines', 'text\n\n'],
    ['a signature block without a final newline', 'text\n\n— alice.example/log AAAAAAA='],
    ['a line without the em dash', 'text\n\n- alice.example/log AAAAAAA=\n'],
    ['a signature that is not base64', 'text\n\n— alice.example/log not*base64\n'],
    ['a signature of fewer than 5 bytes', 'text\n\n— alice.example/log AAAAAA==\n'],
    ['a key name with a plus sign', 'text\n\n— alice+x AAAAAAA=\n'],
    ['a carriage return', 'text\r\n\n— alice.example/log AAAAAAA=\n'],
  ])('a note with %s is malformed', (_what, note) => {
    expect(() => openNote(note, [aliceVerifier])).toThrow(MalformedNoteError);
  });

  test('a note that is not valid UTF-8 is malformed', () => {
    expect(() => openNote(new Uint8Array([0x74, 0xff, 0x0a, 0x0a]), [aliceVerifier])).toThrow(
      MalformedNoteError,
    );
  });

  test('more than 100 signature lines are refused, as Go does', () => {
    const line = '— other.example/key AAAAAAA=\n';
    expect(() => openNote(`${TEXT}\n${line.repeat(101)}`, [aliceVerifier])).toThrow(
      MalformedNoteError,
    );
  });
});

describe('key names', () => {
  test('Unicode white space that JavaScript \\s misses (U+0085) is not allowed in a key name', () => {
    expect(isValidKeyName('a\u0085b')).toBe(false);
  });

  test('U+FEFF, which Go does not treat as space, is allowed in a key name', () => {
    expect(isValidKeyName('a\ufeffb')).toBe(true);
  });
});
