// Writes the project's ledger test vectors to test/vectors/ledger/. Run from the repo root:
//   npx tsx ledger/vectors/generate.ts
// ledger/vectors.test.ts fails when the files differ from what build.ts computes, so rerun
// this only when a deliberate change to the inputs or formats is being made.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLedgerVectors } from './build.ts';

const outDir = fileURLToPath(new URL('../../test/vectors/ledger/', import.meta.url));
mkdirSync(outDir, { recursive: true });
for (const [name, content] of Object.entries(buildLedgerVectors())) {
  writeFileSync(join(outDir, name), `${JSON.stringify(content, null, 2)}\n`);
  console.log(`wrote ${join(outDir, name)}`);
}
