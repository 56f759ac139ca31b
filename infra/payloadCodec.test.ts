import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  AesGcmPayloadCodec,
  clientDataConverter,
  ENCRYPTED_ENCODING,
  EncryptedPayloadError,
  generatePayloadKey,
  parsePayloadKey,
  parsePayloadKeys,
  PayloadKeyError,
  workerDataConverter,
} from './payloadCodec.ts';

const key = parsePayloadKey(generatePayloadKey('k1'));
const application = { buyer: { name: 'Mina Park', idNumber: 'B1234567' } };
const payload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const ivOf = (p: Payload) => Buffer.from(p.data!.subarray(0, 12)).toString('hex');

describe('the AES-256-GCM payload codec', () => {
  it('encrypts a payload so no personal data is readable, and decrypts it back', async () => {
    const codec = new AesGcmPayloadCodec(key);
    const [encoded] = await codec.encode([payload(application)]);
    expect(new TextDecoder().decode(encoded!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(encoded!.data!).toString('latin1')).not.toContain('Mina Park');
    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(application);
  });

  it('never repeats an IV, across more payloads than one pooled draw of random bytes', async () => {
    const codec = new AesGcmPayloadCodec(key);
    const encoded = await codec.encode(Array.from({ length: 2_000 }, (_, i) => payload(i)));
    expect(new Set(encoded.map(ivOf)).size).toBe(2_000);
    const decoded = await codec.decode(encoded);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(
      Array.from({ length: 2_000 }, (_, i) => i),
    );
  });

  it('refuses a payload changed by one bit', async () => {
    const codec = new AesGcmPayloadCodec(key);
    const [encoded] = await codec.encode([payload(application)]);
    const data = new Uint8Array(encoded!.data!);
    data[20]! ^= 1;
    // GCM's tag check (NIST SP 800-38D §7.2), as OpenSSL words it.
    await expect(codec.decode([{ ...encoded!, data }])).rejects.toThrow(
      'Unsupported state or unable to authenticate data',
    );
  });

  it.each([0, 4, 12, 15, 16, 27])(
    'refuses an encrypted payload of %i bytes, shorter than its IV and tag, saying so',
    async (length) => {
      const codec = new AesGcmPayloadCodec(key);
      const [encoded] = await codec.encode([payload(application)]);
      const data = encoded!.data!.slice(0, length);
      await expect(codec.decode([{ ...encoded!, data }])).rejects.toThrow(
        new EncryptedPayloadError(
          `encrypted payload is ${length} bytes, shorter than its 12-byte IV and 16-byte tag`,
        ),
      );
    },
  );

  it('decrypts the shortest encrypted payload there is, IV and tag around nothing', async () => {
    const codec = new AesGcmPayloadCodec(key);
    const [encoded] = await codec.encode([{}]);
    expect(encoded!.data).toHaveLength(28);
    const [decoded] = await codec.decode([encoded!]);
    expect(decoded!.data ?? new Uint8Array()).toHaveLength(0);
  });

  it('decrypts under a previous key after rotation, and names a key it does not have', async () => {
    const next = parsePayloadKey(generatePayloadKey('k2'));
    const [old] = await new AesGcmPayloadCodec(key).encode([payload('before rotation')]);
    const [decoded] = await new AesGcmPayloadCodec(next, [key]).decode([old!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toBe('before rotation');
    await expect(new AesGcmPayloadCodec(next).decode([old!])).rejects.toThrow(
      'no payload key with id "k1"',
    );
  });

  it('rotates through ONEWINDOW_PAYLOAD_KEY: the new key first encrypts, the old one after it still decrypts', async () => {
    const oldText = generatePayloadKey('k1');
    const newText = generatePayloadKey('k2');
    const before = clientDataConverter(parsePayloadKeys(oldText)).payloadCodecs[0]!;
    const [old] = await before.encode([payload('a case started before the rotation')]);
    const rotating = parsePayloadKeys(`${newText}  ${oldText}`);
    expect(rotating.id).toBe('k2');
    const codec = clientDataConverter(rotating).payloadCodecs[0]!;
    const [decoded] = await codec.decode([old!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toBe(
      'a case started before the rotation',
    );
    const [fresh] = await codec.encode([payload('after')]);
    expect(new TextDecoder().decode(fresh!.metadata!['encryption-key-id'])).toBe('k2');
    // The worker's converter takes the same keys.
    expect(workerDataConverter(rotating).payloadCodecs[0]).toBeInstanceOf(AesGcmPayloadCodec);
    expect(() => parsePayloadKeys(`${newText} ${newText}`)).toThrow(/one key id twice/);
  });
});

describe('parsing ONEWINDOW_PAYLOAD_KEY', () => {
  // 32 bytes of 0xfb: its base64 uses both "+" and "/", which base64url writes "-" and "_".
  const base64 = Buffer.alloc(32, 0xfb).toString('base64');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  // The last character before "=" carries 2 bits past the 32 bytes; canonical base64 has them 0.
  const last = base64.at(-2)!;
  const nonCanonical = `${base64.slice(0, -2)}${alphabet[alphabet.indexOf(last) + 1]}=`;

  it('reads the id and the 32 bytes of a canonical key', () => {
    expect(parsePayloadKey(`k1:${base64}`)).toEqual({
      id: 'k1',
      key: new Uint8Array(Buffer.alloc(32, 0xfb)),
    });
  });

  // Each would decode to 32 bytes with Node's lenient decoder, which the key check took before.
  it.each([
    ['a character outside base64 in it', `k1:${base64.slice(0, 20)}!${base64.slice(20)}`],
    ['a space in it', `k1:${base64.slice(0, 20)} ${base64.slice(20)}`],
    ['no padding', `k1:${base64.slice(0, -1)}`],
    ['the base64url alphabet', `k1:${base64.replaceAll('+', '-').replaceAll('/', '_')}`],
    ['bits set past the 32 bytes', `k1:${nonCanonical}`],
    ['no key id', `:${base64}`],
    ['no colon', base64],
    ['31 bytes', `k1:${Buffer.alloc(31, 0xfb).toString('base64')}`],
  ])('refuses a key with %s, saying the format', (_, value) => {
    expect(() => parsePayloadKey(value)).toThrow(
      new PayloadKeyError(
        'ONEWINDOW_PAYLOAD_KEY must be <key id>:<base64 of 32 random bytes> (the id 1 to 64 letters, digits, ".", "_" or "-"; the key 44 characters of standard base64, as `openssl rand -base64 32` prints)',
      ),
    );
  });

  it('refuses a key of 32 zero bytes, anyone could decrypt with it', () => {
    expect(() => parsePayloadKey(`zero:${Buffer.alloc(32).toString('base64')}`)).toThrow(
      new PayloadKeyError(
        'ONEWINDOW_PAYLOAD_KEY gives key "zero" 32 zero bytes, which anyone could decrypt with: make one with `openssl rand -base64 32`',
      ),
    );
  });
});
