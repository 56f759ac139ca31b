// Where a verifier reads a log from: a live address (HTTP) or an exported folder laid out
// with the same tlog-tiles paths.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { makeDirectory } from './directories.ts';
import { fromUtf8 } from '../ledger/bytes.ts';
import { tilePath, tilesForSize } from '../ledger/tiles.ts';
import { readEntries, type FetchPath } from '../ledger/tlogClient.ts';

/** The log could not be read (no answer, an HTTP error, a file missing): nothing was verified. */
export class SourceError extends Error {
  override name = 'SourceError';
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
    if (!response.ok)
      throw new SourceError(
        `GET ${base}/${path}: HTTP ${response.status} ${(await response.text()).slice(0, 200)}`,
      );
    return new Uint8Array(await response.arrayBuffer());
  };
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

/** Reads from a source and keeps a copy of everything read under `dir` (an export). */
export function mirroringSource(source: FetchPath, dir: string): FetchPath {
  const made = new Set<string>();
  return async (path) => {
    const bytes = await source(path);
    const file = resolve(dir, path);
    await makeDirectory(dirname(file), made);
    await writeFile(file, bytes);
    return bytes;
  };
}

/**
 * Copies a log from `source` into `dir` under its tlog-tiles paths: the checkpoint, every
 * entry bundle and every hash tile of the checkpoint's size. The copy is what an agency audits
 * offline (`onewindow ledger audit --dir`). Returns the size copied.
 * @throws SourceError when the checkpoint has no readable size.
 */
export async function exportLog(source: FetchPath, dir: string): Promise<number> {
  const fetchPath = mirroringSource(source, dir);
  const note = fromUtf8(await fetchPath('checkpoint'));
  // C2SP tlog-checkpoint: the second line is the tree size in decimal.
  const size = Number(note.split('\n')[1]);
  if (!Number.isSafeInteger(size)) throw new SourceError('the checkpoint has no readable size');
  for await (const _ of readEntries(fetchPath, size)) void _;
  for (const tile of tilesForSize(size))
    await fetchPath(tilePath(tile.level, tile.index, tile.width));
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
