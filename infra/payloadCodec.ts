// Temporal payload encryption (AES-256-GCM): workflow inputs, activity inputs and results
// carry personal data, and Temporal's history would otherwise keep it readable. Only search
// attributes stay clear, and they hold none (domain/searchAttributes.ts).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  DefaultFailureConverter,
  METADATA_ENCODING_KEY,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
// @temporalio/proto is CommonJS: Node's ESM loader offers it only as a default export.
import proto from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const text = new TextEncoder();
const untext = new TextDecoder();

/**
 * Random 96-bit IVs (NIST SP 800-38D §8.2.2), drawn from a pooled CSPRNG buffer: one
 * `randomBytes` call per 512 IVs instead of one per payload, which had been the largest
 * single cost of encoding (bench/cases.ts, `--cpu-prof`).
 */
class IvPool {
  private pool = Buffer.alloc(0);
  private at = 0;

  next(): Buffer {
    if (this.at + IV_BYTES > this.pool.length) {
      this.pool = randomBytes(IV_BYTES * 512);
      this.at = 0;
    }
    return this.pool.subarray(this.at, (this.at += IV_BYTES));
  }
}

export class PayloadKeyError extends Error {
  override name = 'PayloadKeyError';
}

/** An encrypted payload that cannot be one: shorter than its IV and tag. */
export class EncryptedPayloadError extends Error {
  override name = 'EncryptedPayloadError';
}

export interface PayloadKey {
  id: string;
  key: Uint8Array;
  /**
   * Earlier keys still read during and after a rotation: history written under them stays
   * readable. Only the key itself encrypts.
   */
  previous?: readonly PayloadKey[];
}

/**
 * Parses ONEWINDOW_PAYLOAD_KEY: one key, or during a rotation several, space-separated; the
 * first one encrypts and the ones after it only decrypt. Rotating takes three rollouts:
 * `<old> <new>` in every process (the old key still encrypts, the new one already decrypts);
 * once every process has that, `<new> <old>` everywhere (the new key encrypts); then drop
 * `<old>` once no history kept needs it. Listing `<new> <old>` first would have a process
 * not yet updated meet payloads it cannot decrypt.
 * @throws PayloadKeyError naming the format (never the key).
 */
export function parsePayloadKeys(value: string): PayloadKey {
  const [current, ...previous] = value.trim().split(/\s+/).map(parsePayloadKey);
  const ids = new Set([current!, ...previous].map((k) => k.id));
  if (ids.size !== previous.length + 1)
    throw new PayloadKeyError('ONEWINDOW_PAYLOAD_KEY names one key id twice');
  return previous.length === 0 ? current! : { ...current!, previous };
}

const KEY_FORMAT =
  'ONEWINDOW_PAYLOAD_KEY must be <key id>:<base64 of 32 random bytes> (the id 1 to 64 letters, digits, ".", "_" or "-"; the key 44 characters of standard base64, as `openssl rand -base64 32` prints)';

/**
 * Parses `<key id>:<base64 32-byte key>` (the ONEWINDOW_PAYLOAD_KEY format).
 * @throws PayloadKeyError naming what is wrong (never the key).
 */
export function parsePayloadKey(value: string): PayloadKey {
  const at = value.indexOf(':');
  const id = value.slice(0, at);
  const base64 = value.slice(at + 1);
  const key = Buffer.from(base64, 'base64');
  // Node's decoder skips characters outside the alphabet and takes missing padding: a typo
  // would give another key, or a shorter one. Only the canonical form encodes back to itself.
  if (
    at <= 0 ||
    !/^[A-Za-z0-9._-]{1,64}$/.test(id) ||
    key.length !== 32 ||
    key.toString('base64') !== base64
  )
    throw new PayloadKeyError(KEY_FORMAT);
  // What a template or an unset secret gives, not a random key: anyone could decrypt with it.
  if (key.every((byte) => byte === 0))
    throw new PayloadKeyError(
      `ONEWINDOW_PAYLOAD_KEY gives key ${JSON.stringify(id)} 32 zero bytes, which anyone could decrypt with: make one with \`openssl rand -base64 32\``,
    );
  return { id, key: new Uint8Array(key) };
}

export function generatePayloadKey(id = `k${Date.now().toString(36)}`): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}

/**
 * Encrypts each payload whole (its metadata too) under the current key; decrypts with
 * whichever known key id the payload names, so keys can rotate without losing history.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys: Map<string, Uint8Array>;
  private readonly ivs = new IvPool();

  constructor(
    private readonly current: PayloadKey,
    previous: readonly PayloadKey[] = [],
  ) {
    this.keys = new Map([current, ...previous].map((k) => [k.id, k.key]));
  }

  // Mapped inside a promise's executor, so a bad payload rejects the promise rather than
  // throwing at the caller.
  encode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((p) => this.encrypt(p))));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((p) => this.decrypt(p))));
  }

  private encrypt(payload: Payload): Payload {
    const iv = this.ivs.next();
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    const plain = proto.temporal.api.common.v1.Payload.encode(payload).finish();
    const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: text.encode(ENCRYPTED_ENCODING),
        [KEY_ID]: text.encode(this.current.id),
      },
      data: new Uint8Array(data),
    };
  }

  private decrypt(payload: Payload): Payload {
    // A payload in clear (from a client without the codec) passes as it is. Refusing it here
    // would fail the workflow task that carries it, and a keyless Update, redelivered with
    // every attempt, stalled its case for as long as its sender waited (tried: ~40 s a request,
    // so a loop of them wedges a case). Who may reach Temporal at all is the defence
    // (docs/deploy.md, "Temporal's frontend": not published, no TLS yet).
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (!encoding || untext.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
    const id = untext.decode(payload.metadata?.[KEY_ID] ?? new Uint8Array());
    const key = this.keys.get(id);
    if (!key) throw new PayloadKeyError(`no payload key with id ${JSON.stringify(id)}`);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    // A shorter one would pass a truncated tag to GCM, which checks only as many bytes as it gets.
    if (data.length < IV_BYTES + TAG_BYTES)
      throw new EncryptedPayloadError(
        `encrypted payload is ${data.length} bytes, shorter than its ${IV_BYTES}-byte IV and ${TAG_BYTES}-byte tag`,
      );
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return proto.temporal.api.common.v1.Payload.decode(plain);
  }
}

/** Failure messages and stack traces can carry personal data too: encode them as payloads. */
export const failureConverterPath = fileURLToPath(
  new URL('../workflows/failureConverter.ts', import.meta.url),
);

export function clientDataConverter(key: PayloadKey) {
  return {
    payloadCodecs: [new AesGcmPayloadCodec(key, key.previous)],
    failureConverter: new DefaultFailureConverter({ encodeCommonAttributes: true }),
  };
}

export function workerDataConverter(key: PayloadKey) {
  return { payloadCodecs: [new AesGcmPayloadCodec(key, key.previous)], failureConverterPath };
}
