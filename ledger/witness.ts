// C2SP tlog-witness `add-checkpoint`, the pure part: parse the request, verify the log's
// signature, check the old size and the consistency proof against the witness's state, and
// cosign. Storage (an atomic check-and-set of the state) is the caller's port.
import { bytesEqual, fromBase64, toBase64 } from './bytes.ts';
import {
  MalformedCheckpointError,
  openCheckpoint,
  parseCheckpoint,
  type Checkpoint,
} from './checkpoint.ts';
import { cosign, cosignerKeyOf, verifyCosignature } from './cosignature.ts';
import type { SigningKey, VerifierKey } from './keys.ts';
import { MalformedNoteError, splitNote } from './note.ts';
import { verifyConsistency } from './proof.ts';
import { emptyRoot } from './rfc9162.ts';

/** tlog-witness: a client MUST NOT send more than 63 consistency proof lines. */
export const MAX_PROOF_LINES = 63;

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  note: string;
}

/** What the witness answers, with the HTTP status tlog-witness prescribes. */
export type WitnessAnswer =
  | { status: 200; body: string; checkpoint: Checkpoint; checkpointBody: string }
  | { status: 400 | 403 | 404 | 422; body: string; alarm?: string }
  | { status: 409; body: string; currentSize: number; alarm?: string };

/** The witness's record for one log: the latest checkpoint it cosigned. */
export interface WitnessState {
  size: number;
  rootHash: Uint8Array;
}

/** A checkpoint the witness cosigned, as its store keeps it: the text and its own cosignature. */
export interface CosignedRecord {
  size: number;
  rootHash: Uint8Array;
  checkpointBody: string;
  cosignature: string;
}

/**
 * The state a stored record stands for, only if the witness's own cosignature over its text
 * verifies and the text says that size and root; otherwise undefined. Whoever can write the
 * store (the log's operator, say) cannot make a record the witness would act on without its key.
 */
export function stateFromRecord(
  record: CosignedRecord,
  key: SigningKey,
  origin: string,
): WitnessState | undefined {
  try {
    verifyCosignature(record.checkpointBody, record.cosignature, cosignerKeyOf(key));
    const checkpoint = parseCheckpoint(record.checkpointBody);
    if (
      checkpoint.origin !== origin ||
      checkpoint.size !== record.size ||
      !bytesEqual(checkpoint.rootHash, record.rootHash)
    )
      return undefined;
    return { size: checkpoint.size, rootHash: checkpoint.rootHash };
  } catch {
    return undefined;
  }
}

const decimal = /^(?:0|[1-9][0-9]*)$/;

/** Parses an add-checkpoint body; undefined with the reason when it is malformed. */
export function parseAddCheckpoint(body: string): AddCheckpointRequest | string {
  const blank = body.indexOf('\n\n');
  if (blank < 0) return 'missing the empty line before the checkpoint';
  const head = body.slice(0, blank).split('\n');
  const note = body.slice(blank + 2);
  const oldLine = head.shift()!;
  if (!oldLine.startsWith('old ') || !decimal.test(oldLine.slice(4)))
    return 'first line must be "old <size>"';
  const oldSize = Number(oldLine.slice(4));
  if (!Number.isSafeInteger(oldSize)) return 'old size is too large';
  if (head.length > MAX_PROOF_LINES) return `at most ${MAX_PROOF_LINES} consistency proof lines`;
  const proof: Uint8Array[] = [];
  for (const line of head) {
    try {
      const hash = fromBase64(line);
      if (hash.length !== 32) return 'each consistency proof line must be a base64 SHA-256 hash';
      proof.push(hash);
    } catch {
      return 'each consistency proof line must be a base64 SHA-256 hash';
    }
  }
  return { oldSize, proof, note };
}

export function formatAddCheckpoint(
  oldSize: number,
  proof: readonly string[],
  note: string,
): string {
  return `old ${oldSize}\n${proof.map((p) => `${p}\n`).join('')}\n${note}`;
}

export interface WitnessConfig {
  key: SigningKey;
  /** Trusted logs: origin → the log's verifier keys. */
  logs: ReadonlyMap<string, readonly VerifierKey[]>;
}

/**
 * Decides an add-checkpoint request against the stored state (tlog-witness §add-checkpoint).
 * Returns the answer and, on 200, the new state the caller must store by compare-and-set
 * against `state` before answering.
 */
export function decideAddCheckpoint(
  config: WitnessConfig,
  body: string,
  stateOf: (origin: string) => WitnessState | undefined,
  now: () => number = () => Math.floor(Date.now() / 1000),
): WitnessAnswer {
  const opened = openAddCheckpoint(config, body);
  if ('status' in opened) return opened;
  return decideOpenedAddCheckpoint(config, opened, stateOf(opened.origin), now);
}

/** An add-checkpoint request whose checkpoint a trusted key of its log signed. */
export interface OpenedAddCheckpoint {
  origin: string;
  request: AddCheckpointRequest;
  checkpoint: Checkpoint;
  checkpointBody: string;
}

/**
 * What of an add-checkpoint request needs no state: its form, its log, the log's signature
 * (tlog-witness 400, 404, 403), and an old size above the checkpoint's. The answer when one
 * fails; else the request opened, for `decideOpenedAddCheckpoint` against the state. A store
 * opens a request before it takes its lock, so requests nobody signed never wait for it.
 */
export function openAddCheckpoint(
  config: WitnessConfig,
  body: string,
): OpenedAddCheckpoint | WitnessAnswer {
  const request = parseAddCheckpoint(body);
  if (typeof request === 'string') return { status: 400, body: `${request}\n` };
  let origin: string;
  try {
    origin = splitNote(request.note).text.split('\n')[0]!;
  } catch (error) {
    return { status: 400, body: `malformed checkpoint note: ${(error as Error).message}\n` };
  }
  // An empty first line is a second blank line after the proof, not an origin we may not know.
  if (origin === '')
    return { status: 400, body: 'malformed checkpoint: its origin line is empty\n' };
  const logKeys = config.logs.get(origin);
  if (!logKeys) return { status: 404, body: `unknown log origin ${JSON.stringify(origin)}\n` };
  let opened: ReturnType<typeof openCheckpoint>;
  try {
    opened = openCheckpoint(request.note, origin, logKeys);
  } catch (error) {
    // tlog-witness: 403 only if none of the signatures verify against a trusted key; a note
    // the log did sign whose text is no checkpoint is a malformed request.
    if (error instanceof MalformedCheckpointError || error instanceof MalformedNoteError)
      return { status: 400, body: `malformed checkpoint: ${error.message}\n` };
    return {
      status: 403,
      body: `checkpoint not signed by a trusted key of ${origin}: ${(error as Error).message}\n`,
    };
  }
  const { checkpoint, body: checkpointBody } = opened;
  if (request.oldSize > checkpoint.size) {
    return {
      status: 400,
      body: `old size ${request.oldSize} is above the checkpoint size ${checkpoint.size}\n`,
    };
  }
  return { origin, request, checkpoint, checkpointBody };
}

/** Decides an opened add-checkpoint request against `state`, as `decideAddCheckpoint`. */
export function decideOpenedAddCheckpoint(
  config: WitnessConfig,
  { request, checkpoint, checkpointBody }: OpenedAddCheckpoint,
  state: WitnessState | undefined,
  now: () => number = () => Math.floor(Date.now() / 1000),
): WitnessAnswer {
  const currentSize = state?.size ?? 0;
  if (request.oldSize !== currentSize) {
    // Refused with the size it holds whatever the old size said; reported only when the
    // checkpoint itself is evidence, signed by the log: the same size with another root (a
    // split view, whichever old size the request gives). Anyone may post to a witness, and
    // an older checkpoint is public: offered again, it proves nothing about the log.
    const split =
      state !== undefined &&
      checkpoint.size === currentSize &&
      !bytesEqual(state.rootHash, checkpoint.rootHash);
    return {
      status: 409,
      body: `${currentSize}\n`,
      currentSize,
      ...(split
        ? { alarm: `two different checkpoints of size ${checkpoint.size}: a split view of the log` }
        : {}),
    };
  }
  if (request.oldSize === checkpoint.size) {
    // tlog-witness: "If the old size matches the checkpoint size, the witness MUST check that
    // the root hashes are also identical". With nothing cosigned yet the size held is 0, whose
    // root is the empty tree's, MTH({}) = SHA-256() (RFC 9162 §2.1.1).
    if (!bytesEqual(state?.rootHash ?? emptyRoot(), checkpoint.rootHash)) {
      return {
        status: 409,
        body: `${currentSize}\n`,
        currentSize,
        alarm: state
          ? `two different checkpoints of size ${checkpoint.size}: a split view of the log`
          : "a checkpoint of size 0 whose root hash is not the empty tree's",
      };
    }
    // tlog-witness: the proof lines MUST be an RFC 6962 §2.1.2 consistency proof from the old
    // size to the checkpoint size, and PROOF(n, D[n]) is empty (transparency-dev/merkle's
    // VerifyConsistency refuses "size1=size2, but proof is not empty" alike).
    if (request.proof.length !== 0)
      return {
        status: 422,
        body: `the consistency proof from size ${request.oldSize} to the same size must be empty, found ${request.proof.length} proof line${request.proof.length === 1 ? '' : 's'}\n`,
      };
  } else if (request.oldSize === 0) {
    if (request.proof.length !== 0)
      return { status: 422, body: 'the consistency proof from size 0 must be empty\n' };
  } else {
    try {
      verifyConsistency(
        request.oldSize,
        checkpoint.size,
        request.proof,
        state!.rootHash,
        checkpoint.rootHash,
      );
    } catch (error) {
      return {
        status: 422,
        body: `consistency proof does not verify: ${(error as Error).message}\n`,
        // Suspicion, not evidence: the proof comes from the sender, who may not be the log.
        // Named by the checkpoint, so each is reported once however often it is sent.
        alarm: `no consistency proof sent from cosigned size ${request.oldSize} to the checkpoint of size ${checkpoint.size} and root ${toBase64(checkpoint.rootHash)} verified: a fork of the log, or a bad proof from whoever sent it`,
      };
    }
  }
  return {
    status: 200,
    body: cosign(checkpointBody, config.key, now()),
    checkpoint,
    checkpointBody,
  };
}
