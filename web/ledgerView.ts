// What the pages that verify the ledger (the explorer, a case's entries) show of it: the keys
// they trusted, the checkpoint they verified, and each entry with its verdict ("verified" with
// what was checked, or "FAILED: <why>").
/// <reference lib="dom" />
import { toBase64 } from '../ledger/bytes.ts';
import { definitions, formatTime, h, type Child } from './dom.ts';
import { json, text } from './http.ts';
import {
  describeTrust,
  readTrust,
  verifyCheckpoint,
  type CheckpointVerdict,
  type EntryVerdict,
  type TrustContext,
} from './verify.ts';

/** GET /ledger/trust, parsed. @throws ApiError, TrustFileError. */
export async function fetchTrust(): Promise<TrustContext> {
  return readTrust(await json<unknown>('/ledger/trust'));
}

/** GET /ledger/checkpoint and verify it. @throws ApiError when the log has none. */
export async function fetchCheckpoint(
  context: TrustContext,
): Promise<{ note: string; verdict: CheckpointVerdict }> {
  const note = await text('/ledger/checkpoint');
  return { note, verdict: verifyCheckpoint(note, context) };
}

/** A collapsed list of every key the page trusted, and where the trust came from. */
export function trustDetails(context: TrustContext): HTMLDetailsElement {
  const trust = describeTrust(context);
  return h(
    'details',
    { class: 'trust' },
    h('summary', {}, `Keys trusted for ${trust.origin} (from /ledger/trust)`),
    definitions([
      ['Log keys', h('ul', {}, ...trust.logKeys.map((k) => h('li', {}, h('code', {}, k))))],
      [
        'Witnesses',
        h(
          'div',
          {},
          h('p', {}, `${trust.threshold} of ${trust.witnesses.length} must cosign`),
          h('ul', {}, ...trust.witnesses.map((k) => h('li', {}, h('code', {}, k)))),
        ),
      ],
      [
        'Agency keys',
        h(
          'ul',
          {},
          ...trust.agencyKeys.map((k) =>
            h(
              'li',
              {},
              h('code', {}, k.keyId),
              ` (${k.agency}), valid from ${formatTime(k.validFrom)}${k.validUntil ? ` until ${formatTime(k.validUntil)}` : ''}`,
            ),
          ),
        ),
      ],
    ]),
  );
}

/** A verdict line: a visible word and symbol, never colour alone. */
export function verdictLine(
  status: 'verified' | 'failed' | 'pending',
  summary: string,
  testId?: string,
): HTMLParagraphElement {
  const label =
    status === 'verified'
      ? '\u2713 verified'
      : status === 'pending'
        ? '\u2026 pending'
        : '\u2717 FAILED';
  return h(
    'p',
    { class: `verdict ${status}`, 'data-verdict': status, 'data-testid': testId },
    h('strong', {}, label),
    ' ',
    h('span', {}, status === 'failed' ? summary.replace(/^FAILED: /, '') : summary),
  );
}

/** The checkpoint: origin, size, root, and what verifying its note showed. */
export function checkpointSection(note: string | null, verdict: CheckpointVerdict): HTMLElement {
  const cp = verdict.ok ? verdict.checkpoint : undefined;
  return h(
    'div',
    { class: 'checkpoint', 'data-testid': 'checkpoint' },
    verdictLine(verdict.ok ? 'verified' : 'failed', verdict.summary, 'checkpoint-verdict'),
    cp
      ? definitions([
          ['Origin', h('code', {}, cp.origin)],
          ['Tree size', String(cp.size)],
          ['Root hash', h('code', { class: 'hash' }, toBase64(cp.rootHash))],
          [
            'Cosigned by',
            verdict.ok && verdict.cosignatures.length
              ? h(
                  'ul',
                  {},
                  ...verdict.cosignatures.map((c) =>
                    h(
                      'li',
                      {},
                      `${c.name} at ${formatTime(new Date(c.timestamp * 1000).toISOString())}`,
                    ),
                  ),
                )
              : 'none',
          ],
        ])
      : null,
    note ? h('details', {}, h('summary', {}, 'Signed note as served'), h('pre', {}, note)) : null,
  );
}

/** One entry: what it records, its verdict, and the checks behind it. */
export function entryItem(verdict: EntryVerdict, extra: Child = null): HTMLLIElement {
  const s = verdict.entry?.statement;
  return h(
    'li',
    {
      class: `entry ${verdict.status}`,
      id: `entry-${verdict.index}`,
      'data-index': verdict.index,
      'data-status': verdict.status,
    },
    h(
      'h3',
      {},
      `Entry ${verdict.index}`,
      s
        ? h('span', { class: 'what' }, ` \u00b7 ${s.agency} \u00b7 ${s.stepId} \u00b7 ${s.outcome}`)
        : null,
    ),
    s
      ? h(
          'p',
          { class: 'meta' },
          `Case ${s.caseId} \u00b7 issued ${formatTime(s.issuedAt)} \u00b7 sequenced ${formatTime(verdict.entry?.sequencedAt)}`,
        )
      : null,
    verdictLine(verdict.status, verdict.summary),
    extra,
    h(
      'details',
      {},
      h('summary', {}, 'What was checked'),
      h(
        'ul',
        { class: 'checks' },
        ...verdict.checks.map((c) =>
          h(
            'li',
            { class: c.state },
            h(
              'strong',
              {},
              c.state === 'ok' ? '\u2713 ' : c.state === 'pending' ? '\u2026 ' : '\u2717 ',
            ),
            c.detail,
          ),
        ),
      ),
      verdict.leafHash
        ? h(
            'p',
            {},
            'Leaf hash (recomputed): ',
            h('code', { class: 'hash' }, toBase64(verdict.leafHash)),
          )
        : null,
      s ? h('pre', {}, JSON.stringify(s, null, 2)) : null,
    ),
  );
}

/** Runs `work` over `items`, at most `limit` at a time, keeping the order of the results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** The inclusion proof of `index` for the checkpoint of `size`, from the public proof route. */
export async function fetchInclusionProof(index: number, size: number): Promise<string[]> {
  const proof = await json<{ inclusionProof: string[] }>(
    `/ledger/proof/inclusion?index=${index}&size=${size}`,
  );
  return proof.inclusionProof;
}
