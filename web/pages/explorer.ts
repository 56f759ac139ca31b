// The public ledger explorer: the latest checkpoint, verified against the log key and the
// witness policy, and the entries by index, each verified in this browser (leaf bytes
// re-hashed, statement signature, inclusion proof against that checkpoint).
/// <reference lib="dom" />
import { byId, replace } from '../dom.ts';
import { bytes } from '../http.ts';
import {
  checkpointSection,
  entryItem,
  fetchCheckpoint,
  fetchInclusionProof,
  fetchTrust,
  mapLimit,
  trustDetails,
} from '../ledgerView.ts';
import { say, sayError } from '../messages.ts';
import { verifyEntry, type TrustContext, type VerifiedCheckpoint } from '../verify.ts';

const PAGE_SIZE = 10;

interface State {
  context: TrustContext;
  checkpoint: VerifiedCheckpoint;
  from: number;
}

/**
 * The load of a page of entries last begun: Previous and Next may be clicked again before a
 * page is verified, and a slower answer to an earlier click must not show under the newer
 * range (nor its failure be reported).
 */
let lastLoad = 0;

function clampFrom(from: number, size: number): number {
  const last = Math.max(0, size - PAGE_SIZE);
  return Math.min(Math.max(0, Math.floor(from)), last);
}

async function showEntries(state: State): Promise<void> {
  const load = ++lastLoad;
  const size = state.checkpoint.checkpoint.size;
  const from = clampFrom(state.from, size);
  state.from = from;
  const to = Math.min(size, from + PAGE_SIZE);
  const url = new URL(location.href);
  url.searchParams.set('from', String(from));
  history.replaceState(null, '', url);
  byId('range').textContent =
    size === 0 ? 'The log is empty.' : `Entries ${from} to ${to - 1} of ${size}`;
  byId<HTMLButtonElement>('previous').disabled = from === 0;
  byId<HTMLButtonElement>('next').disabled = to >= size;
  byId<HTMLButtonElement>('newest').disabled = to >= size;
  const list = byId('entries');
  list.setAttribute('aria-busy', 'true');
  say(`Verifying entries ${from} to ${to - 1}\u2026`);
  const indices = Array.from({ length: to - from }, (_, i) => from + i);
  try {
    const fetched = await mapLimit(indices, 4, async (index) => {
      const [leaf, proof] = await Promise.all([
        bytes(`/ledger/entries/${index}`),
        fetchInclusionProof(index, size),
      ]);
      return { index, leaf, proof };
    });
    if (load !== lastLoad) return;
    let previousLeafHash: Uint8Array | undefined;
    const verdicts = fetched.map(({ index, leaf, proof }) => {
      const verdict = verifyEntry({
        index,
        bytes: leaf,
        inclusionProof: proof,
        checkpoint: state.checkpoint,
        context: state.context,
        ...(previousLeafHash ? { previousLeafHash } : {}),
      });
      previousLeafHash = verdict.leafHash;
      return verdict;
    });
    replace(list, ...verdicts.map((v) => entryItem(v)));
    const failed = verdicts.filter((v) => v.status !== 'verified');
    say(
      failed.length === 0
        ? `All ${verdicts.length} entries from ${from} to ${to - 1} verified.`
        : `${failed.length} of ${verdicts.length} entries FAILED verification: ${failed.map((v) => v.index).join(', ')}.`,
    );
  } catch (error) {
    if (load !== lastLoad) return;
    // The entries of another range must not stand under this one's heading.
    replace(list);
    throw error;
  } finally {
    if (load === lastLoad) list.removeAttribute('aria-busy');
  }
}

async function main(): Promise<void> {
  say('Loading the trusted keys and the latest checkpoint\u2026');
  const context = await fetchTrust();
  replace(byId('trust'), trustDetails(context));
  const { note, verdict } = await fetchCheckpoint(context);
  replace(byId('checkpoint'), checkpointSection(note, verdict));
  if (!verdict.ok) {
    say('');
    sayError(
      verdict.reason,
      'The checkpoint did not verify, so no entry can be checked against it',
    );
    return;
  }
  const requested = Number(new URL(location.href).searchParams.get('from') ?? NaN);
  const state: State = {
    context,
    checkpoint: verdict,
    from: Number.isFinite(requested) ? requested : verdict.checkpoint.size - PAGE_SIZE,
  };
  byId('browse').hidden = false;
  const run = (from: number) => {
    state.from = from;
    showEntries(state).catch((error: unknown) => sayError(error, 'Loading entries failed'));
  };
  byId('previous').addEventListener('click', () => run(state.from - PAGE_SIZE));
  byId('next').addEventListener('click', () => run(state.from + PAGE_SIZE));
  byId('newest').addEventListener('click', () => run(Number.MAX_SAFE_INTEGER));
  const goto = byId<HTMLInputElement>('goto-index');
  goto.max = String(Math.max(0, verdict.checkpoint.size - 1));
  byId('goto').addEventListener('submit', (event) => {
    event.preventDefault();
    const index = Number(goto.value);
    if (goto.value === '' || !Number.isInteger(index) || index < 0) {
      goto.setAttribute('aria-invalid', 'true');
      sayError('Give an entry number: a whole number from 0.');
      goto.focus();
      return;
    }
    goto.removeAttribute('aria-invalid');
    run(index);
  });
  await showEntries(state);
}

main().catch((error: unknown) => sayError(error, 'The explorer could not load'));
