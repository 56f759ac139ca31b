// Byte helpers shared by the ledger. Only plain JSON crosses process boundaries, so
// bytes travel as standard base64 (RFC 4648 §4), the encoding C2SP notes use too.

const encoder = new TextEncoder();
// ignoreBOM: a leading byte-order mark is text like any other (signed-note §Format: the note is
// the bytes signed), never silently dropped, or bytes the log never signed would verify.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, throwing TypeError on malformed input (C2SP notes must be valid UTF-8). */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Bytes `fromCharCode` takes at once: its arguments are bounded by the engine's stack. */
const CHARS_AT_ONCE = 0x2000;

export function toBase64(bytes: Uint8Array): string {
  // A string a chunk, not one a byte: the audit encodes a leaf hash for every entry it reads.
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHARS_AT_ONCE)
    binary += String.fromCharCode.apply(
      null,
      bytes.subarray(i, i + CHARS_AT_ONCE) as unknown as number[],
    );
  return btoa(binary);
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_CODES = Uint8Array.from(BASE64_ALPHABET, (c) => c.charCodeAt(0));
const PAD = 0x3d;

/**
 * Whether `text` is exactly `toBase64(bytes)` (standard, padded, RFC 4648 §4), compared a
 * character at a time without making the string: the audit checks every entry's
 * prevLeafHash against the leaf hash before it, and encoding each hash cost ~0.8 µs.
 */
export function isBase64Of(text: string, bytes: Uint8Array): boolean {
  if (text.length !== 4 * Math.ceil(bytes.length / 3)) return false;
  let t = 0;
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    if (
      text.charCodeAt(t) !== BASE64_CODES[n >>> 18] ||
      text.charCodeAt(t + 1) !== BASE64_CODES[(n >>> 12) & 63] ||
      text.charCodeAt(t + 2) !== BASE64_CODES[(n >>> 6) & 63] ||
      text.charCodeAt(t + 3) !== BASE64_CODES[n & 63]
    )
      return false;
    t += 4;
  }
  const left = bytes.length - i;
  if (left === 0) return true;
  const n = (bytes[i]! << 16) | (left === 2 ? bytes[i + 1]! << 8 : 0);
  return (
    text.charCodeAt(t) === BASE64_CODES[n >>> 18] &&
    text.charCodeAt(t + 1) === BASE64_CODES[(n >>> 12) & 63] &&
    text.charCodeAt(t + 2) === (left === 2 ? BASE64_CODES[(n >>> 6) & 63] : PAD) &&
    text.charCodeAt(t + 3) === PAD
  );
}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard padded base64; throws TypeError on anything else. */
export function fromBase64(text: string): Uint8Array {
  if (!base64Pattern.test(text))
    throw new TypeError(`not standard base64: ${JSON.stringify(text.slice(0, 40))}`);
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += bytes[i]!.toString(16).padStart(2, '0');
  return out;
}

export function fromHex(text: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/i.test(text))
    throw new TypeError(`not hex: ${JSON.stringify(text.slice(0, 40))}`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * The first `limit` bytes of a stream (a fetch Response's body), read chunk by chunk so a
 * larger one is never held whole; `whole` says whether that was all of it (the rest is
 * cancelled unread). Another party's answer may stream on for ever.
 */
export async function readAtMost(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ bytes: Uint8Array; whole: boolean }> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = body?.getReader();
  while (reader && length <= limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.length;
  }
  const whole = length <= limit;
  if (!whole) await reader?.cancel().catch(() => undefined);
  return { bytes: concatBytes(...chunks).subarray(0, limit), whole };
}
