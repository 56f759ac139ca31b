// Where a verifier reads a log from: a live address (HTTP) or an exported folder laid out
// with the same tlog-tiles paths.
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { makeDirectory } from './directories.ts';
import { bytesEqual, fromUtf8, readAtMost, toBase64 } from '../ledger/bytes.ts';
import { parseCheckpoint, type Checkpoint } from '../ledger/checkpoint.ts';
import { splitNote } from '../ledger/note.ts';
import { MalformedTileError, tilePath, tilesForSize } from '../ledger/tiles.ts';
import { extensionOf, readEntries, type FetchPath } from '../ledger/tlogClient.ts';

/** The log could not be read (no answer, an HTTP error, a file missing): nothing was verified. */
export class SourceError extends Error {
  override name = 'SourceError';
}

/** The export's folder holds a copy of another log: nothing was written to it. */
export class OtherLogError extends Error {
  override name = 'OtherLogError';
}

/**
 * The log as served does not extend the export's copy of it (smaller, forked, or a tile with
 * other bytes): a finding about the log or the copy. Nothing was written to the copy.
 */
export class CopyConflictError extends Error {
  override name = 'CopyConflictError';
}

const FETCH_TIMEOUT_MS = 30_000;

export function httpSource(baseUrl: string): FetchPath {
  const base = baseUrl.replace(/\/+$/, '');
  return async (path) => {
    let response: Response;
    try {
      response = await fetch(`${base}/${path}`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    } catch (error) {
      throw new SourceError(`GET ${base}/${path}: ${whyNoAnswer(error)}`);
    }
    if (!response.ok) {
      const said = new TextDecoder().decode(
        await readAnswer(response, 200, `${base}/${path}`, false),
      );
      throw new SourceError(`GET ${base}/${path}: HTTP ${response.status} ${said}`);
    }
    return readAnswer(response, MAX_ANSWER_BYTES, `${base}/${path}`, true);
  };
}

/**
 * The largest answer a log path can have: an entry bundle of 256 entries of at most 65,535
 * bytes, each with its 2-byte length (C2SP tlog-tiles). A server sending more is not
 * serving a log, and reading on would let it fill this process's memory.
 */
const MAX_ANSWER_BYTES = 256 * (2 + 0xffff);

/**
 * The body's first `limit` bytes; past them, a SourceError when `strict`, else what was read.
 * Read as a stream, so a larger body is never held whole.
 */
async function readAnswer(
  response: Response,
  limit: number,
  url: string,
  strict: boolean,
): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (strict && declared > limit)
    throw new SourceError(`GET ${url}: an answer of ${declared} bytes, more than a log path holds`);
  let read: Awaited<ReturnType<typeof readAtMost>>;
  try {
    read = await readAtMost(response.body, limit);
  } catch (error) {
    throw new SourceError(`GET ${url}: ${whyNoAnswer(error)}`);
  }
  if (!read.whole && strict)
    throw new SourceError(
      `GET ${url}: an answer of more than ${limit} bytes, more than a log path holds`,
    );
  return read.bytes;
}

export function directorySource(dir: string): FetchPath {
  const root = resolve(dir);
  return async (path) => {
    const file = resolve(root, path);
    if (!file.startsWith(`${root}/`)) throw new SourceError(`path ${path} escapes ${root}`);
    try {
      return new Uint8Array(await readFile(file));
    } catch {
      throw new SourceError(`${file} is missing from the export`);
    }
  };
}

/**
 * Reads from a source for an export into `dir`. A file `dir` holds is compared with what the
 * source serves and never written; every other file read is staged in a folder of the export's
 * own inside `dir` (inside, so that moving it into place is a rename on one file system even
 * when `dir` is a mount of its own). `commit` then moves the staged files into place and writes
 * `checkpoint` last, so a reader of `dir` meanwhile finds the checkpoint it had with every file
 * that checkpoint covers; `discard` removes the staging folder. An export that fails before
 * `commit` thus leaves `dir` as it was: nothing is written, not even a new tile.
 * @throws CopyConflictError, from `fetchPath`, when the log serves a tile or entry bundle the
 *   folder holds with other bytes.
 */
function stagedCopy(
  source: FetchPath,
  dir: string,
): {
  fetchPath: FetchPath;
  commit: (checkpoint: Uint8Array) => Promise<void>;
  discard: () => Promise<void>;
} {
  const staging = resolve(dir, `.export.${process.pid}.${randomUUID()}.tmp`);
  const staged = new Set<string>();
  const made = new Set<string>();
  // Bundles are read ahead (`readEntries`): one may arrive after the export failed, and must
  // not stage a file once the staging folder is being removed.
  let closed = false;
  const writes: Promise<void>[] = [];
  const stage = async (path: string, bytes: Uint8Array) => {
    const file = resolve(staging, path);
    await makeDirectory(dirname(file), made);
    await writeFile(file, bytes);
  };
  const moveIntoPlace = async (path: string) => {
    const file = resolve(dir, path);
    await makeDirectory(dirname(file), made);
    await rename(resolve(staging, path), file);
  };
  return {
    fetchPath: async (path) => {
      const bytes = await source(path);
      // A tile path names the hashes or entries it holds, which never change: a full tile is
      // immutable, a partial one the start of its full tile (C2SP tlog-tiles). So a file the
      // copy holds with these bytes is not written again, and one with other bytes is a fork
      // of the log or of the copy: a finding, never replaced.
      const file = resolve(dir, path);
      const held = await readIfThere(file);
      if (held && bytesEqual(held, bytes)) return bytes;
      if (held)
        throw new CopyConflictError(
          `${file} holds other bytes than the log serves at ${path} now, and a tile never changes (C2SP tlog-tiles): it was not replaced; nothing was written`,
        );
      if (closed) return bytes;
      const write = stage(path, bytes);
      writes.push(write);
      await write;
      staged.add(path);
      return bytes;
    },
    commit: async (checkpoint) => {
      for (const path of staged) await moveIntoPlace(path);
      await stage('checkpoint', checkpoint);
      await moveIntoPlace('checkpoint');
    },
    discard: async () => {
      closed = true;
      await Promise.allSettled(writes);
      // Never in place of the export's own error: where `dir` could not be made (a file of its
      // name, /proc), neither could the staging folder, and removing it fails too.
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/**
 * Copies a log from `source` into `dir` under its tlog-tiles paths: every entry bundle and
 * every hash tile of the checkpoint's size, then the checkpoint. The copy is what an agency
 * audits offline (`onewindow ledger audit --dir`). Returns the size copied. `open` reads the
 * served checkpoint, verifying what the caller can (its signatures, against a trust file); by
 * default it is only parsed. When `dir` holds a copy already, the log must extend it (RFC 9162
 * §2.1.4), and every file it holds must have the bytes the log serves; all is read and checked
 * before anything is written (`stagedCopy`), so an export that fails writes nothing, and one
 * that succeeds replaces the folder's checkpoint last.
 * @throws SourceError when the log serves no checkpoint or a malformed entry bundle;
 *   OtherLogError when `dir` holds a copy of another log, or a checkpoint file that is none;
 *   CopyConflictError when the log does not extend the copy; what `open` throws.
 */
export async function exportLog(
  source: FetchPath,
  dir: string,
  open: (note: Uint8Array) => Checkpoint = parseServedCheckpoint,
): Promise<number> {
  const note = await source('checkpoint');
  const checkpoint = open(note);
  const { size } = checkpoint;
  const kept = await keptCheckpoint(dir);
  if (kept) {
    // A wrong --url serving another log would overwrite the copy's tiles with that log's: the
    // copy is of one log (its checkpoint's first line, C2SP tlog-checkpoint).
    if (kept.origin !== checkpoint.origin)
      throw new OtherLogError(
        `${dir} holds a copy of log ${JSON.stringify(kept.origin)}, and this address serves log ${JSON.stringify(checkpoint.origin)}: export it to another folder`,
      );
    // A log never shrinks nor forks: a smaller checkpoint, another root at the copy's size or
    // one no consistency proof joins to it would replace the evidence of what the log said.
    const extension = await extensionOf(source, kept, checkpoint);
    if (!extension.ok)
      throw new CopyConflictError(
        `the log serves a checkpoint of size ${size} root ${toBase64(checkpoint.rootHash)}, and ${dir} holds a copy of size ${kept.size} root ${toBase64(kept.rootHash)}: ${
          {
            shrank: 'a log never shrinks',
            split: 'two roots of one size are a split view',
            badEmptyRoot: "the copy's root of size 0 is not the empty tree's",
            inconsistent: `no consistency proof joins them (RFC 9162 §2.1.4): ${extension.detail}`,
          }[extension.why]
        }; nothing was written`,
      );
  }
  const copy = stagedCopy(source, dir);
  try {
    try {
      for await (const _ of readEntries(copy.fetchPath, size)) void _;
    } catch (error) {
      if (error instanceof MalformedTileError)
        throw new SourceError(`the log served a malformed entry bundle: ${error.message}`);
      throw error;
    }
    for (const tile of tilesForSize(size))
      await copy.fetchPath(tilePath(tile.level, tile.index, tile.width));
    await copy.commit(note);
  } finally {
    await copy.discard();
  }
  return size;
}

/**
 * A served checkpoint parsed strictly as a signed note (C2SP signed-note, tlog-checkpoint), not
 * verified: without a trust file the copy is verified where it is audited. A web page answering
 * for a wrong --url is no checkpoint of size 0. @throws SourceError.
 */
function parseServedCheckpoint(note: Uint8Array): Checkpoint {
  try {
    return parseCheckpoint(splitNote(fromUtf8(note)).text);
  } catch (error) {
    throw new SourceError(`the log served no checkpoint: ${(error as Error).message}`);
  }
}

/** The checkpoint `dir` holds, parsed, or undefined. @throws OtherLogError when it is none. */
async function keptCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  const file = resolve(dir, 'checkpoint');
  const kept = await readIfThere(file);
  if (kept === undefined) return undefined;
  try {
    return parseCheckpoint(splitNote(kept).text);
  } catch (error) {
    throw new OtherLogError(
      `${file} is no checkpoint (${(error as Error).message}): export to another folder`,
    );
  }
}

/**
 * The bytes of `file`, or undefined when there is none (its folder missing, or a file: writing
 * there then says why). @throws the file system's error when it cannot be read (EACCES).
 */
async function readIfThere(file: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** Why a fetch got no answer, in the system's words (undici hides them in `cause`). */
function whyNoAnswer(error: unknown): string {
  if (error instanceof DOMException && error.name === 'TimeoutError')
    return `no answer within ${FETCH_TIMEOUT_MS / 1000} s`;
  const cause = (error as { cause?: { message?: unknown } }).cause;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}
