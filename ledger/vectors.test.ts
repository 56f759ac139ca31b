// Runs the transparency-dev/merkle RFC 9162 proof vectors (test/vectors/rfc9162-proofs, a copy
// of the folder kept beside the checkout, with its README and Apache 2.0 LICENSE): happy paths
// verify, every mutation (`wantErr: true`) is rejected. Kept in the repository so that every
// clone runs them: a test skipped where the folder is missing would pass having checked nothing.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { fromBase64, toBase64 } from './bytes.ts';
import { openCheckpoint } from './checkpoint.ts';
import { openWitnessedCheckpoint, parseCosignerVerifierKey } from './cosignature.ts';
import { parseVerifierKey } from './keys.ts';
import { ProofError, verifyConsistency, verifyInclusion } from './proof.ts';
import { parseTilePath } from './tiles.ts';
import { buildLedgerVectors } from './vectors/build.ts';

const root = fileURLToPath(new URL('../test/vectors/rfc9162-proofs', import.meta.url));

interface InclusionProbe {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyProbe {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

function jsonFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return jsonFiles(path);
      return name.endsWith('.json') ? [path] : [];
    });
}

function cases<T>(kind: string): [string, T][] {
  return jsonFiles(join(root, kind)).map((path) => [
    relative(root, path),
    JSON.parse(readFileSync(path, 'utf8')) as T,
  ]);
}

const proofOf = (proof: string[] | null): Uint8Array[] => (proof ?? []).map(fromBase64);

describe('transparency-dev/merkle inclusion vectors', () => {
  const all = cases<InclusionProbe>('inclusion');

  test('the vector folder holds inclusion cases', () => {
    expect(all.length).toBeGreaterThan(50);
  });

  test.each(all)('%s is handled as the vector says', (_path, probe) => {
    const run = (): void =>
      verifyInclusion(
        fromBase64(probe.leafHash),
        probe.leafIdx,
        probe.treeSize,
        proofOf(probe.proof),
        fromBase64(probe.root),
      );
    if (probe.wantErr) expect(run).toThrow(ProofError);
    else expect(run).not.toThrow();
  });
});

describe('transparency-dev/merkle consistency vectors', () => {
  const all = cases<ConsistencyProbe>('consistency');

  test('the vector folder holds consistency cases', () => {
    expect(all.length).toBeGreaterThan(50);
  });

  test.each(all)('%s is handled as the vector says', (_path, probe) => {
    const run = (): void =>
      verifyConsistency(
        probe.size1,
        probe.size2,
        proofOf(probe.proof),
        fromBase64(probe.root1),
        fromBase64(probe.root2),
      );
    if (probe.wantErr) expect(run).toThrow(ProofError);
    else expect(run).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// The project's own vectors (test/vectors/ledger, written by ledger/vectors/generate.ts).

const projectDir = fileURLToPath(new URL('../test/vectors/ledger/', import.meta.url));
const built = buildLedgerVectors();
const readVector = <T>(name: string): T =>
  JSON.parse(readFileSync(join(projectDir, name), 'utf8')) as T;

describe('project ledger vectors', () => {
  test.each(Object.keys(built))('%s matches what ledger/vectors/build.ts computes', (name) => {
    expect(readVector(name)).toEqual(JSON.parse(JSON.stringify(built[name])));
  });

  test.each(
    readVector<{ cases: InclusionProbe[] }>('inclusion.json').cases.map(
      (c) => [`${c.leafIdx}/${c.treeSize} ${c.desc}`, c] as const,
    ),
  )('inclusion %s is handled as the vector says', (_name, probe) => {
    const run = (): void =>
      verifyInclusion(
        fromBase64(probe.leafHash),
        probe.leafIdx,
        probe.treeSize,
        proofOf(probe.proof),
        fromBase64(probe.root),
      );
    if (probe.wantErr) expect(run).toThrow(ProofError);
    else expect(run).not.toThrow();
  });

  test.each(
    readVector<{ cases: ConsistencyProbe[] }>('consistency.json').cases.map(
      (c) => [`${c.size1}->${c.size2} ${c.desc}`, c] as const,
    ),
  )('consistency %s is handled as the vector says', (_name, probe) => {
    const run = (): void =>
      verifyConsistency(
        probe.size1,
        probe.size2,
        proofOf(probe.proof),
        fromBase64(probe.root1),
        fromBase64(probe.root2),
      );
    if (probe.wantErr) expect(run).toThrow(ProofError);
    else expect(run).not.toThrow();
  });

  test('the signed checkpoint opens with the log verifier key and names the tree root', () => {
    const v = readVector<{
      origin: string;
      logVerifierKey: string;
      signedNote: string;
      rootHash: string;
    }>('checkpoint.json');
    const opened = openCheckpoint(v.signedNote, v.origin, [parseVerifierKey(v.logVerifierKey)]);
    expect(toBase64(opened.checkpoint.rootHash)).toBe(v.rootHash);
  });

  test('the rotated checkpoint opens with the rotated key alone', () => {
    const v = readVector<{ origin: string; rotatedVerifierKey: string; rotatedNote: string }>(
      'checkpoint.json',
    );
    expect(
      openCheckpoint(v.rotatedNote, v.origin, [parseVerifierKey(v.rotatedVerifierKey)])
        .logSignatures,
    ).toHaveLength(1);
  });

  test('the cosigned checkpoint meets a 1-of-1 witness policy', () => {
    const cp = readVector<{ origin: string; logVerifierKey: string }>('checkpoint.json');
    const v = readVector<{ witnessVerifierKey: string; cosignedNote: string; timestamp: number }>(
      'cosignature.json',
    );
    const result = openWitnessedCheckpoint(
      v.cosignedNote,
      cp.origin,
      [parseVerifierKey(cp.logVerifierKey)],
      {
        witnesses: [parseCosignerVerifierKey(v.witnessVerifierKey)],
        threshold: 1,
      },
    );
    expect(result.cosignatures.map((c) => c.timestamp)).toEqual([v.timestamp]);
  });

  test('every tile path in the vectors parses back to its coordinates', () => {
    const v = readVector<{
      paths: { level: number; index: number; width: number; path: string }[];
    }>('tiles.json');
    for (const p of v.paths)
      expect(parseTilePath(p.path)).toEqual({
        kind: 'hashes',
        level: p.level,
        index: p.index,
        width: p.width,
      });
  });
});
