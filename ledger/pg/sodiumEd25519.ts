// libsodium's Ed25519 (RFC 8032) through sodium-native, whose npm package carries a prebuilt
// binary for each platform (no install script, no compiler). Measured here, one core:
// 12,300–16,800 verifications/s against OpenSSL's 7,100–8,700 (node:crypto), the same
// signatures. Its check is also stricter than OpenSSL's: it refuses small-order public keys
// and R values and non-canonical encodings, where OpenSSL accepts, for any message, a
// "signature" under the identity point as public key (sodiumEd25519.test.ts shows both).
// Whatever it accepts, OpenSSL, Go's crypto/ed25519 and noble accept too, so an entry the
// sequencer took passes every outside audit. Processes fall back to OpenSSL where the
// package's binary cannot load.
import { createRequire } from 'node:module';
import type { Ed25519 } from '../ed25519.ts';
import { LruMap } from '../lruMap.ts';
import { nodeEd25519 } from './nodeEd25519.ts';

/** The part of sodium-native used here (libsodium's crypto_sign API). */
interface Sodium {
  crypto_sign_verify_detached(
    signature: Uint8Array,
    message: Uint8Array,
    publicKey: Uint8Array,
  ): boolean;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
}

const require = createRequire(import.meta.url);

function load(): { sodium: Sodium; path: string } | undefined {
  try {
    const path = require.resolve('sodium-native');
    return { sodium: require(path) as Sodium, path };
  } catch {
    return undefined;
  }
}

const loaded = load();

/** The module a worker thread can `require` for the same check, when the binary loads here. */
export const sodiumModulePath: string | undefined = loaded?.path;

// libsodium signs with the 64-byte secret key (seed ‖ public key): made once per seed.
const secretKeys = new LruMap<string, Uint8Array>(1_000);

function secretKeyOf(sodium: Sodium, seed: Uint8Array): Uint8Array {
  const id = Buffer.from(seed).toString('hex');
  let secretKey = secretKeys.get(id);
  if (!secretKey) {
    secretKey = new Uint8Array(64);
    sodium.crypto_sign_seed_keypair(new Uint8Array(32), secretKey, seed);
    secretKeys.set(id, secretKey);
  }
  return secretKey;
}

function make(sodium: Sodium): Ed25519 {
  return {
    sign(seed, message) {
      if (seed.length !== 32)
        throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
      const signature = new Uint8Array(64);
      sodium.crypto_sign_detached(signature, message, secretKeyOf(sodium, seed));
      return signature;
    },
    verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false;
      try {
        return sodium.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false;
      }
    },
  };
}

/** libsodium's Ed25519, for `useEd25519` in Node processes; undefined where it cannot load. */
export const sodiumEd25519: Ed25519 | undefined = loaded ? make(loaded.sodium) : undefined;

/** The fastest Ed25519 this process can load: libsodium's, else OpenSSL's. */
export const processEd25519: Ed25519 = sodiumEd25519 ?? nodeEd25519;
export const processEd25519Name = sodiumEd25519 ? 'libsodium' : 'OpenSSL';
