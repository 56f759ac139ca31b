// Helpers shared by the simulated agency systems: deterministic numbers from ids, so a
// retried call sees the same meter reading or account number as the first one did.

/** FNV-1a (32-bit) of `text`, as an unsigned integer: stable across runs and processes. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** `digits` decimal digits derived from `text` (zero-padded). Requires 1 <= digits <= 9. */
export function stableDigits(text: string, digits: number): string {
  if (!Number.isInteger(digits) || digits < 1 || digits > 9)
    throw new RangeError(`digits must be 1-9, got ${digits}`);
  return String(stableHash(text) % 10 ** digits).padStart(digits, '0');
}
