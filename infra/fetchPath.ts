// Where a verifier reads a log from: a live address (HTTP) or an exported folder laid out
// with the same tlog-tiles paths.
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { makeDirectory } from './directories.ts';
import { fromUtf8, readAtMost } from '../ledger/bytes.ts';
import { parseCheckpoint } from '../ledger/checkpoint.ts';
import { splitNote } from '../ledger/note.ts';
import { MalformedTileError, tilePath, tilesForSize } from '../ledger/tiles.ts';
import { readEntries, type FetchPath } from '../ledger/tlogClient.ts';

/** The log could not be read (no answer, an HTTP error, a file missing): nothing was verified. */
export class SourceError extends Error {
  override name = 'SourceError';
}

/** The export's folder holds a copy of another log: nothing was written to it. */
export class OtherLogError extends Error {
  override name = 'OtherLogError';
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
 * Reads from a source and keeps a copy of each file read under `dir` (an export), each written
 * whole: to a temporary file, then renamed into place, so an export cut short leaves every file
 * as it was or as it is now, never part of one. The checkpoint is held until `finish`, which
 * writes it last, the same way: until everything it covers is in place, the folder keeps the
 * checkpoint it had, and a copy audited meanwhile is the old one, whole.
 */
function mirroringSource(
  source: FetchPath,
  dir: string,
): { fetchPath: FetchPath; finish: () => Promise<void> } {
  const made = new Set<string>();
  let checkpoint: Uint8Array | undefined;
  const keep = async (path: string, bytes: Uint8Array) => {
    const file = resolve(dir, path);
    await makeDirectory(dirname(file), made);
    const temporary = `${file}.${process.pid}.${randomUUID()}.tmp`;
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, file);
    } finally {
      await rm(temporary, { force: true }).catch(() => undefined);
    }
  };
  return {
    fetchPath: async (path) => {
      const bytes = await source(path);
      if (path === 'checkpoint') checkpoint = bytes;
      else await keep(path, bytes);
      return bytes;
    },
    finish: () => (checkpoint ? keep('checkpoint', checkpoint) : Promise.resolve()),
  };
}

/**
 * Copies a log from `source` into `dir` under its tlog-tiles paths: every entry bundle and
 * every hash tile of the checkpoint's size, then the checkpoint. The copy is what an agency
 * audits offline (`onewindow ledger audit --dir`). Returns the size copied. An export that
 * fails leaves the folder's checkpoint as it was.
 * @throws SourceError when the log serves no checkpoint or a malformed entry bundle;
 *   OtherLogError when `dir` holds a copy of another log.
 */
export async function exportLog(source: FetchPath, dir: string): Promise<number> {
  const { fetchPath, finish } = mirroringSource(source, dir);
  const note = await fetchPath('checkpoint');
  let size: number;
  let origin: string;
  try {
    // Parsed strictly (C2SP tlog-checkpoint), not verified: the copy is verified where it is
    // audited. A web page answering for a wrong --url is no checkpoint of size 0.
    ({ size, origin } = parseCheckpoint(splitNote(fromUtf8(note)).text));
  } catch (error) {
    throw new SourceError(`the log served no checkpoint: ${(error as Error).message}`);
  }
  // A wrong --url serving another log would overwrite the copy's tiles with that log's: the
  // copy is of one log (its checkpoint's first line, C2SP tlog-checkpoint), refused before
  // any tile is written.
  const kept = await readFile(resolve(dir, 'checkpoint'), 'utf8').catch(() => undefined);
  const keptOrigin = kept?.split('\n', 1)[0];
  if (keptOrigin !== undefined && keptOrigin !== origin)
    throw new OtherLogError(
      `${dir} holds a copy of log ${JSON.stringify(keptOrigin)}, and this address serves log ${JSON.stringify(origin)}: export it to another folder`,
    );
  try {
    for await (const _ of readEntries(fetchPath, size)) void _;
  } catch (error) {
    if (error instanceof MalformedTileError)
      throw new SourceError(`the log served a malformed entry bundle: ${error.message}`);
    throw error;
  }
  for (const tile of tilesForSize(size))
    await fetchPath(tilePath(tile.level, tile.index, tile.width));
  await finish();
  return size;
}

/** Why a fetch got no answer, in the system's words (undici hides them in `cause`). */
function whyNoAnswer(error: unknown): string {
  if (error instanceof DOMException && error.name === 'TimeoutError')
    return `no answer within ${FETCH_TIMEOUT_MS / 1000} s`;
  const cause = (error as { cause?: { message?: unknown } }).cause;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}
