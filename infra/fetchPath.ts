// Where a verifier reads a log from: a live address (HTTP) or an exported folder laid out
// with the same tlog-tiles paths.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { FetchPath } from '../ledger/tlogClient.ts';

export class SourceError extends Error {
  override name = 'SourceError';
}

export function httpSource(baseUrl: string): FetchPath {
  const base = baseUrl.replace(/\/+$/, '');
  return async (path) => {
    const response = await fetch(`${base}/${path}`, { signal: AbortSignal.timeout(30_000) });
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
  return async (path) => {
    const bytes = await source(path);
    const file = join(dir, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
    return bytes;
  };
}

/** `--url` or `--dir`: exactly one. */
export function sourceFrom(url: string | undefined, dir: string | undefined): FetchPath {
  if (url && dir) throw new SourceError('give --url or --dir, not both');
  if (url) return httpSource(url);
  if (dir) return directorySource(dir);
  throw new SourceError('give the log with --url <address>/ledger or --dir <export folder>');
}
