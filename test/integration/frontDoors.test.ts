// The three front doors end to end, through the HTTP API only: a citizen applies, tracks,
// pays and settles arrears; a registry officer works the inbox, reads the minimised view and
// approves; a supervisor lists, reads the timeline with its proofs and exports the evidence.
// Every signed step result is checked on the ledger with the repo's own ledger library.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agency } from '../../domain/agency.ts';
import type { Entry } from '../../domain/statement.ts';
import { ACTIVITY_VIEWS, titleLockView, titleView, transferView } from '../../domain/views.ts';
import { caseWorkflowId, type CaseApplication } from '../../domain/application.ts';
import { bytesEqual, fromBase64 } from '../../ledger/bytes.ts';
import { openWitnessedCheckpoint } from '../../ledger/cosignature.ts';
import { encodeEntry } from '../../ledger/entry.ts';
import { EvidenceBundle, verifyEvidenceBundle } from '../../ledger/evidence.ts';
import { verifyInclusion } from '../../ledger/proof.ts';
import { hashLeaf } from '../../ledger/rfc9162.ts';
import { verifyStatementSignature } from '../../ledger/statement.ts';
import { loadTrust, type Trust } from '../../ledger/trust.ts';
import { buildApp } from '../../api/app.ts';
import { CaseView, Timeline } from '../../api/schemas.ts';
import { submit, waitForClosed, waitForStep } from './caseDriver.ts';
import {
  registeredTrust,
  sampleApplication,
  startStack,
  type Headers,
  type Stack,
} from './stack.ts';

let stack: Stack;
/** A second citizen, who must see nothing of citizen-1's cases. */
let otherCitizen: Headers;
const testStart = new Date();

// The water utility has arrears on record for this unit (agencies/README.md): 186.50.
const ARREARS_UNIT = 'U-WATER-ARREARS-1';
const ARREARS_CENTS = 18_650;
const application = sampleApplication({
  unitId: ARREARS_UNIT,
  utilities: ['water'],
}) as CaseApplication;
let caseId: string;
/** Ledger indexes of the two audited reads: the officer's view and the supervisor's timeline. */
let viewRead: { ledgerIndex: number; fields: string[]; purpose: string };
let timelineRead: { ledgerIndex: number; purpose: string };

beforeAll(async () => {
  stack = await startStack(['housing', 'tax', 'registry', 'electricity', 'water']);
  otherCitizen = await stack.as({ role: 'citizen', sub: 'citizen-2' });
});
afterAll(async () => {
  await stack?.stop();
});

const get = (url: string, headers?: Headers) =>
  stack.app.inject({ method: 'GET', url, ...(headers ? { headers } : {}) });
const post = (url: string, headers: Headers, payload: object) =>
  stack.app.inject({ method: 'POST', url, headers, payload });

/** An entry as the public ledger API serves it, by index. */
async function entryAt(index: number): Promise<Entry> {
  const response = await get(`/ledger/entries/${index}`);
  expect(response.statusCode).toBe(200);
  return JSON.parse(response.body) as Entry;
}

/** Checks that the entry at `index` holds a statement of this case signed by `signer`'s key. */
async function expectSignedBy(index: number, signer: Agency | 'orchestrator'): Promise<Entry> {
  const entry = await entryAt(index);
  const key = stack.keys[signer]!;
  expect(entry.statement).toMatchObject({ caseId, agency: signer, keyId: key.keyId });
  expect(verifyStatementSignature(entry, key.publicKey)).toBe(true);
  return entry;
}

interface CaseSummary {
  caseId: string;
  status: string;
}
interface CaseList {
  cases: CaseSummary[];
  nextPageToken: string | null;
}

describe('the citizen', () => {
  it('applies once for a property and gets the case id back (201)', async () => {
    const response = await post('/cases', stack.citizen, application);
    expect(response.statusCode).toBe(201);
    const created = response.json<{ caseId: string; workflowId: string; runId: string }>();
    expect(created.workflowId).toBe(`case:${ARREARS_UNIT}`);
    expect(created.runId.length).toBeGreaterThan(0);
    caseId = created.caseId;
  });

  it('finds the case in their own list at once', async () => {
    const response = await get('/cases', stack.citizen);
    expect(response.statusCode).toBe(200);
    expect(response.json<CaseList>().cases.map((c) => c.caseId)).toContain(caseId);
  });

  it("shows another citizen none of citizen-1's cases, and answers 404 for their case", async () => {
    const { rows } = await stack.pool.query<{ case_id: string }>(
      "SELECT case_id FROM cases WHERE applicant = 'citizen-1'",
    );
    expect(rows.length).toBeGreaterThan(0);
    const list = await get('/cases', otherCitizen);
    expect(list.statusCode).toBe(200);
    const seen = list.json<CaseList>().cases.map((c) => c.caseId);
    expect(seen.filter((id) => rows.some((r) => r.case_id === id))).toEqual([]);
    for (const url of [`/cases/${caseId}`, `/cases/${caseId}/access-log`]) {
      const response = await get(url, otherCitizen);
      expect(response.statusCode, url).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found', reason: `no case ${caseId}` });
    }
  });

  it('pages through their own cases newest first, each once, with a token that is theirs alone', async () => {
    // Rows of a citizen with more cases than a page, as the case table holds them.
    const sub = `citizen-pages-${randomUUID()}`;
    const ids = Array.from({ length: 5 }, () => randomUUID());
    for (const [i, id] of ids.entries())
      await stack.pool.query(
        `INSERT INTO cases (case_id, unit_id, workflow_id, applicant, created_at)
         VALUES ($1, $2, $3, $4, $5)`,
        // Two share a creation time: the case id breaks the tie.
        [
          id,
          `U-PAGES-${i}`,
          `case:U-PAGES-${i}`,
          sub,
          new Date(Date.UTC(2026, 0, 1 + Math.min(i, 3))),
        ],
      );
    const citizen = await stack.as({ role: 'citizen', sub });
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const url = `/cases?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
      const response = await get(url, citizen);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<CaseList>();
      seen.push(...page.cases.map((c) => c.caseId));
      token = page.nextPageToken;
      pages++;
    } while (token && pages < 10);
    expect(pages).toBe(3);
    const newestFirst = [ids[4]!, ids[3]!].sort().reverse();
    expect(seen.slice(0, 2)).toEqual(newestFirst);
    expect(seen.slice(2)).toEqual([ids[2], ids[1], ids[0]]);
    // Another citizen's list refuses it, as a made-up token.
    const first = (await get('/cases?pageSize=2', citizen)).json<CaseList>().nextPageToken!;
    const borrowed = await get(`/cases?pageSize=2&pageToken=${first}`, otherCitizen);
    expect(borrowed.statusCode).toBe(400);
    expect(borrowed.json()).toMatchObject({ field: 'pageToken' });
  });

  it('tracks the case step by step and sees the assessed duty and the water arrears due', async () => {
    type Due = { stepId: string; agency: string; amountCents: number | null };
    type View = { due: Due[]; entries: Entry[]; steps: { stepId: string }[] };
    let view: View | undefined;
    await expect
      .poll(
        async () => {
          const response = await get(`/cases/${caseId}`, stack.citizen);
          view = response.json<View>();
          return view.due?.map((d) => d.stepId).sort();
        },
        { timeout: 60_000, interval: 200 },
      )
      .toEqual(['confirmPayment', 'settleArrears.water']);
    // Served as built (no serialiser pass): exactly its schema's shape, no field more or less.
    expect(CaseView.parse(view)).toEqual(view);
    // The amount is the assessment's, from the case's status: the ledger's facts carry none.
    const assessed = view!.entries.find((e) => e.statement.stepId === 'assessTax')!;
    expect(Object.keys(assessed.statement.facts).filter((k) => /cents/i.test(k))).toEqual([]);
    const duty = (view!.steps as { stepId: string; amountDueCents?: number }[]).find(
      (s) => s.stepId === 'confirmPayment',
    )!.amountDueCents;
    expect(duty).toBeGreaterThan(0);
    expect(view!.due).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stepId: 'confirmPayment', agency: 'tax', amountCents: duty }),
        expect.objectContaining({
          stepId: 'settleArrears.water',
          agency: 'water',
          amountCents: ARREARS_CENTS,
        }),
      ]),
    );
    expect(view!.steps.map((s) => s.stepId)).toContain('review');
  });

  it("pays the duty, and the tax agency's worker signs the payment with the tax key", async () => {
    const response = await post(`/cases/${caseId}/payments`, stack.citizen, {
      stepId: 'confirmPayment',
    });
    expect(response.statusCode).toBe(200);
    const paid = response.json<{ stepId: string; ledgerIndex: number }>();
    expect(paid.stepId).toBe('confirmPayment');
    const entry = await expectSignedBy(paid.ledgerIndex, 'tax');
    expect(entry.statement.keyId).toBe(stack.keys.tax!.keyId);
    expect(entry.statement).toMatchObject({ stepId: 'confirmPayment', outcome: 'paid' });
    expect(entry.statement.facts.decidedBy).toBe('citizen');
  });

  it('settles the water arrears, signed by the water utility', async () => {
    const response = await post(`/cases/${caseId}/payments`, stack.citizen, {
      stepId: 'settleArrears.water',
    });
    expect(response.statusCode).toBe(200);
    const { ledgerIndex } = response.json<{ ledgerIndex: number }>();
    const entry = await expectSignedBy(ledgerIndex, 'water');
    expect(entry.statement).toMatchObject({ stepId: 'settleArrears.water', outcome: 'settled' });
    expect(entry.statement.facts.decidedBy).toBe('citizen');
  });

  it('cannot pay the same duty twice: 422 naming the step, nothing signed', async () => {
    const before = await stack.pool.query('SELECT count(*)::int AS n FROM ledger_entries');
    const response = await post(`/cases/${caseId}/payments`, stack.citizen, {
      stepId: 'confirmPayment',
    });
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ error: 'refused', field: 'stepId' });
    const after = await stack.pool.query('SELECT count(*)::int AS n FROM ledger_entries');
    expect(after.rows[0]).toEqual(before.rows[0]);
  });
});

describe('the agency officer', () => {
  it("finds the review in the registry's inbox, and the tax office's inbox does not hold it", async () => {
    await waitForStep(stack, caseId, 'review', 'waiting');
    // The inbox reads Temporal's visibility store, which lags the case a little.
    await expect
      .poll(
        async () => {
          const response = await get('/inbox', stack.officer.registry);
          expect(response.statusCode).toBe(200);
          return response
            .json<{ items: { caseId: string; stepId: string }[] }>()
            .items.filter((i) => i.caseId === caseId);
        },
        { timeout: 15_000, interval: 250 },
      )
      .toEqual([expect.objectContaining({ caseId, unitId: ARREARS_UNIT, stepId: 'review' })]);
    const tax = await get('/inbox', stack.officer.tax);
    expect(tax.statusCode).toBe(200);
    expect(tax.json<{ items: { caseId: string }[] }>().items.map((i) => i.caseId)).not.toContain(
      caseId,
    );
  });

  it('pages through the inbox one case at a time, and refuses a bad page size or token', async () => {
    const seen: string[] = [];
    let pageToken: string | null = null;
    let pages = 0;
    do {
      const url: string = pageToken
        ? `/inbox?pageSize=1&pageToken=${encodeURIComponent(pageToken)}`
        : '/inbox?pageSize=1';
      const response = await get(url, stack.officer.registry);
      expect(response.statusCode, url).toBe(200);
      const page = response.json<{ items: { caseId: string }[]; nextPageToken: string | null }>();
      expect(new Set(page.items.map((i) => i.caseId)).size).toBeLessThanOrEqual(1);
      seen.push(...page.items.map((i) => i.caseId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken && pages < 50);
    expect(seen).toContain(caseId);
    expect(new Set(seen).size).toBe(seen.length);
    for (const [query, field] of [
      ['pageSize=0', 'pageSize'],
      ['pageSize=101', 'pageSize'],
      ['pageToken=not-a-token', 'pageToken'],
      ['status=open', 'status'],
    ]) {
      const response = await get(`/inbox?${query}`, stack.officer.registry);
      expect(response.statusCode, query).toBe(400);
      expect(response.json(), query).toMatchObject({ error: 'invalid_request', field });
    }
  });

  it('must say why they read a case: no purpose is a 400 naming purpose', async () => {
    for (const url of [`/cases/${caseId}/view`, `/cases/${caseId}/view?purpose=`]) {
      const response = await get(url, stack.officer.registry);
      expect(response.statusCode, url).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'purpose' });
      expect(response.json<{ reason: string }>().reason).toMatch(/why/);
    }
  });

  it("reads the registry's minimised view: ID numbers and the buyer's name, never the price", async () => {
    // The registry runs exactly these activities (domain/views.ts); its view is theirs merged.
    const registryActivities = Object.entries(ACTIVITY_VIEWS)
      .filter(([, v]) => (v.agencies as readonly string[]).includes('registry'))
      .map(([name]) => name)
      .sort();
    expect(registryActivities).toEqual(['checkTitle', 'registerTransfer', 'releaseTitleLock']);
    const expected = {
      ...titleView(application),
      ...titleLockView(application),
      ...transferView(application),
    };
    const purpose = 'review of the transfer before registration';
    const response = await get(
      `/cases/${caseId}/view?purpose=${encodeURIComponent(purpose)}`,
      stack.officer.registry,
    );
    expect(response.statusCode).toBe(200);
    const body = response.json<{
      caseId: string;
      agency: string;
      view: Record<string, unknown>;
      steps: { agency: string }[];
      access: { ledgerIndex: number };
    }>();
    expect(body).toMatchObject({ caseId, agency: 'registry' });
    expect(body.view).toEqual(expected);
    expect(body.view.buyerIdNumber).toBe(application.buyer.idNumber);
    expect(body.view).not.toHaveProperty('priceCents');
    expect(response.body).not.toContain(String(application.priceCents));
    expect(response.body).not.toContain(application.address);
    expect(new Set(body.steps.map((s) => s.agency))).toEqual(new Set(['registry']));
    viewRead = {
      ledgerIndex: body.access.ledgerIndex,
      fields: Object.keys(expected).sort(),
      purpose,
    };
  });

  it('of the tax office may not decide the review (403)', async () => {
    const response = await post(`/cases/${caseId}/decisions`, stack.officer.tax, {
      stepId: 'review',
      outcome: 'approved',
      reason: 'looks fine to the tax office',
    });
    expect(response.statusCode).toBe(403);
    // The officer's role is admitted; the step is what the tax office may not decide.
    expect(response.json()).toMatchObject({ error: 'forbidden', field: 'stepId' });
  });

  it('of the registry approves with a reason; the registry-signed decision is on the ledger without it, and the case shows it on the review step', async () => {
    const reason = 'title clear, duty paid, parties verified';
    const response = await post(`/cases/${caseId}/decisions`, stack.officer.registry, {
      stepId: 'review',
      outcome: 'approved',
      reason,
    });
    expect(response.statusCode).toBe(200);
    const { stepId, ledgerIndex } = response.json<{ stepId: string; ledgerIndex: number }>();
    expect(stepId).toBe('review');
    const entry = await expectSignedBy(ledgerIndex, 'registry');
    expect(entry.statement).toMatchObject({ stepId: 'review', outcome: 'approved' });
    // Free text may name people: the public log says only who decided, as a role.
    expect(entry.statement.facts).toEqual({ decidedBy: 'officer' });
    const holding = await stack.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM ledger_entries WHERE position($1::bytea IN entry) > 0',
      [Buffer.from(reason)],
    );
    expect(holding.rows[0]!.n).toBe(0);
    const closed = await waitForClosed(stack, caseId);
    expect(closed).toMatchObject({ workflowStatus: 'COMPLETED', phase: 'completed' });
    expect(closed.steps.find((s) => s.stepId === 'review')).toMatchObject({
      status: 'done',
      outcome: 'approved',
      reason,
    });
  });
});

describe('the supervisor', () => {
  /** Every case of a filtered list, page by page; fails on a case seen twice. */
  async function allPages(query: string): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const url: string = `/cases?${query}${token ? `&pageToken=${token}` : ''}`;
      const response = await get(url, stack.supervisor);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<CaseList>();
      pages++;
      for (const c of page.cases) {
        expect(ids, `case ${c.caseId} repeated on page ${pages}`).not.toContain(c.caseId);
        ids.push(c.caseId);
      }
      token = page.nextPageToken;
    } while (token && pages < 50);
    return { ids, pages };
  }

  const listed = async (query: string) =>
    (await get(`/cases?${query}`, stack.supervisor)).json<CaseList>().cases.map((c) => c.caseId);

  it('lists cases filtered by status, agency, step, overdue and submission dates, one page at a time', async () => {
    const from = new Date(Date.now() - 1000).toISOString();
    const unitIds: string[] = [];
    const waiting: string[] = [];
    for (let i = 0; i < 2; i++) {
      const extra = sampleApplication({ utilities: ['electricity'] });
      unitIds.push(extra.unitId);
      waiting.push(await submit(stack, extra));
    }
    try {
      for (const id of waiting) await waitForStep(stack, id, 'confirmPayment', 'waiting');
      const q = (filters: Record<string, string>) => new URLSearchParams(filters).toString();
      const waitingFilter = {
        status: 'running',
        agency: 'electricity',
        step: 'confirmPayment',
        overdue: 'false',
        submittedFrom: from,
      };
      // Visibility lags: wait until the list has caught up with both cases.
      await expect
        .poll(() => listed(q(waitingFilter)), { timeout: 15_000, interval: 250 })
        .toEqual(expect.arrayContaining(waiting));
      expect(await listed(q(waitingFilter))).not.toContain(caseId);

      // pageSize=1: at least two pages, every case once.
      const paged = await allPages(q({ ...waitingFilter, pageSize: '1' }));
      expect(paged.pages).toBeGreaterThanOrEqual(2);
      expect(paged.ids).toEqual(expect.arrayContaining(waiting));
      expect(new Set(paged.ids).size).toBe(paged.ids.length);

      await expect
        .poll(
          () =>
            listed(
              q({ status: 'completed', agency: 'water', submittedFrom: testStart.toISOString() }),
            ),
          { timeout: 15_000, interval: 250 },
        )
        .toContain(caseId);
      // A page token only works for the list it came from, and a made-up one never reaches Temporal.
      const first = (
        await get(`/cases?${q({ ...waitingFilter, pageSize: '1' })}`, stack.supervisor)
      ).json<CaseList>();
      expect(first.nextPageToken).toBeTruthy();
      for (const url of [
        `/cases?${q({ status: 'running', pageSize: '1', pageToken: first.nextPageToken! })}`,
        `/cases?${q({ ...waitingFilter, pageToken: `${first.nextPageToken!.slice(0, -2)}AA` })}`,
        `/cases?${q({ ...waitingFilter, pageToken: 'eyJSdW5JRCI6MX0' })}`,
      ]) {
        // That Temporal is never asked is shown in api/caseRoutes.test.ts, which counts.
        const refused = await get(url, stack.supervisor);
        expect(refused.statusCode, url).toBe(400);
        expect(refused.json()).toMatchObject({ error: 'invalid_request', field: 'pageToken' });
      }

      // An offset that carries the time past year 9999 (or before 0000) in UTC: a 400, not a 500.
      for (const [field, value] of [
        ['submittedTo', '9999-12-31T23:00:00-02:00'],
        ['submittedFrom', '0000-01-01T00:00:00+01:00'],
      ]) {
        const refused = await get(`/cases?${q({ [field!]: value! })}`, stack.supervisor);
        expect(refused.statusCode, value).toBe(400);
        expect(refused.json()).toMatchObject({ error: 'invalid_request', field });
      }
      expect(
        await listed(q({ ...waitingFilter, submittedTo: '9999-12-31T23:00:00+02:00' })),
      ).toEqual(expect.arrayContaining(waiting));

      const completed = await listed(q({ status: 'completed', submittedFrom: from }));
      for (const id of waiting) expect(completed).not.toContain(id);
      expect(await listed(q({ overdue: 'true', submittedFrom: from }))).toEqual([]);
      expect(await listed(q({ agency: 'gas', submittedFrom: from }))).toEqual([]);
      expect(await listed(q({ step: 'review', submittedFrom: from }))).toEqual([]);
      const dayBefore = new Date(testStart.getTime() - 86_400_000).toISOString().slice(0, 10);
      const before = await listed(q({ submittedTo: dayBefore, pageSize: '100' }));
      for (const id of [caseId, ...waiting]) expect(before).not.toContain(id);
      const today = new Date().toISOString().slice(0, 10);
      expect(
        await listed(q({ submittedFrom: dayBefore, submittedTo: today, pageSize: '100' })),
      ).toEqual(expect.arrayContaining(waiting));
    } finally {
      for (const unitId of unitIds)
        await stack.client.workflow.getHandle(`case:${unitId}`).terminate('test finished');
    }
  });

  it('reads the timeline: the application, a cosigned checkpoint, and every entry proven in it', async () => {
    // Everything so far is in a published checkpoint (the sequencer signs one per batch).
    await stack.publisher.request();
    const purpose = 'audit of a completed transfer';
    const response = await get(
      `/cases/${caseId}/timeline?purpose=${encodeURIComponent(purpose)}`,
      stack.supervisor,
    );
    expect(response.statusCode).toBe(200);
    type TimelineEntry = Entry & { leafHash: string; inclusionProof: string[] | null };
    const timeline = response.json<{
      application: unknown;
      phase: string;
      checkpoint: { note: string; size: number } | null;
      entries: TimelineEntry[];
      accessLog: { ledgerIndex: number }[];
      access: { ledgerIndex: number };
    }>();
    // Served as built (no serialiser pass): exactly its schema's shape, no field more or less.
    expect(Timeline.parse(response.json())).toEqual(response.json());
    expect(timeline.application).toEqual(application);
    expect(timeline.phase).toBe('completed');
    expect(timeline.accessLog.map((a) => a.ledgerIndex)).toContain(viewRead.ledgerIndex);

    const trust: Trust = loadTrust(
      await registeredTrust(stack.pool, stack.logKey, stack.witnessKeys),
    );
    expect(timeline.checkpoint).not.toBeNull();
    const { checkpoint, cosignatures } = openWitnessedCheckpoint(
      timeline.checkpoint!.note,
      trust.origin,
      trust.logKeys,
      trust.policy,
    );
    expect(checkpoint.size).toBe(timeline.checkpoint!.size);
    expect(cosignatures.length).toBeGreaterThanOrEqual(2);

    const steps = new Set(timeline.entries.map((e) => e.statement.stepId));
    for (const step of ['verifyContract', 'assessTax', 'confirmPayment', 'review', 'close'])
      expect(steps, step).toContain(step);
    let proven = 0;
    for (const { leafHash, inclusionProof, ...entry } of timeline.entries) {
      // Never trust the served leaf hash: recompute it from the entry's RFC 8785 bytes.
      const leaf = hashLeaf(encodeEntry(entry));
      expect(bytesEqual(leaf, fromBase64(leafHash)), `leaf hash of ${entry.index}`).toBe(true);
      if (entry.index >= checkpoint.size) {
        // Only this very read's access entry may be newer than the checkpoint.
        expect(entry.index).toBe(timeline.access.ledgerIndex);
        expect(inclusionProof).toBeNull();
        continue;
      }
      expect(inclusionProof, `proof of ${entry.index}`).not.toBeNull();
      verifyInclusion(
        leaf,
        entry.index,
        checkpoint.size,
        inclusionProof!.map(fromBase64),
        checkpoint.rootHash,
      );
      proven++;
    }
    expect(proven).toBeGreaterThanOrEqual(timeline.entries.length - 1);
    timelineRead = { ledgerIndex: timeline.access.ledgerIndex, purpose };
  });

  it("exports an evidence bundle that verifies offline with the stack's trust", async () => {
    // The bundle needs a published checkpoint covering the timeline read's access entry too.
    let response = await get(`/cases/${caseId}/evidence`, stack.supervisor);
    for (let i = 0; response.statusCode === 409 && i < 50; i++) {
      expect(response.json()).toMatchObject({ error: 'not_yet_published', field: 'caseId' });
      await stack.publisher.request();
      response = await get(`/cases/${caseId}/evidence`, stack.supervisor);
    }
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-disposition']).toContain(`evidence-${caseId}.json`);
    const bundle = EvidenceBundle.parse(response.json());
    const trust = loadTrust(await registeredTrust(stack.pool, stack.logKey, stack.witnessKeys));
    const result = verifyEvidenceBundle(bundle, trust);
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.caseId).toBe(caseId);
    const { rows } = await stack.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM ledger_entries WHERE case_id = $1',
      [caseId],
    );
    expect(result.entries).toBe(rows[0]!.n);
    // Beside the case's entries, the key events other test files logged on this database.
    const keyEvents = bundle.keyEvents!.length;
    expect(result.keyEventsApplied).toBe(keyEvents);
    expect(result.inclusionProofsChecked).toBe(rows[0]!.n + keyEvents);
    expect(result.signaturesChecked).toBe(rows[0]!.n + keyEvents);
  });
});

describe("the citizen's access log", () => {
  it("lists the officer's view and the supervisor's timeline reads, each an orchestrator-signed entry", async () => {
    const response = await get(`/cases/${caseId}/access-log`, stack.citizen);
    expect(response.statusCode).toBe(200);
    const { accesses } = response.json<{
      accesses: { ledgerIndex: number; actor: string; role: string; at: string }[];
    }>();
    expect(accesses).toContainEqual({
      actor: 'officer:registry:officer-registry',
      role: 'officer',
      agency: 'registry',
      fields: viewRead.fields,
      purpose: viewRead.purpose,
      ledgerIndex: viewRead.ledgerIndex,
      at: expect.any(String) as string,
    });
    expect(accesses).toContainEqual({
      actor: 'supervisor:supervisor-1',
      role: 'supervisor',
      agency: null,
      fields: ['application'],
      purpose: timelineRead.purpose,
      ledgerIndex: timelineRead.ledgerIndex,
      at: expect.any(String) as string,
    });
    for (const { ledgerIndex } of [viewRead, timelineRead]) {
      const entry = await expectSignedBy(ledgerIndex, 'orchestrator');
      expect(entry.statement.keyId).toBe(stack.keys.orchestrator!.keyId);
      expect(entry.statement).toMatchObject({ stepId: 'access', outcome: 'read' });
      // Who read and why stay off the public ledger: the entry commits to them.
      expect(Object.keys(entry.statement.facts).sort()).toEqual(['agency', 'fields', 'role']);
    }
  });

  it('shows a supervisor, whose read of it is not logged, the reads without who and why', async () => {
    const response = await get(`/cases/${caseId}/access-log`, stack.supervisor);
    expect(response.statusCode).toBe(200);
    const { accesses } = response.json<{
      accesses: { ledgerIndex: number; actor: string | null; purpose: string | null }[];
    }>();
    expect(accesses).toContainEqual({
      actor: null,
      role: 'officer',
      agency: 'registry',
      fields: viewRead.fields,
      purpose: null,
      ledgerIndex: viewRead.ledgerIndex,
      at: expect.any(String) as string,
    });
    expect(accesses.length).toBeGreaterThanOrEqual(2);
    expect(accesses.filter((a) => a.actor !== null || a.purpose !== null)).toEqual([]);
  });
});

describe('the API description', () => {
  /** Every route of the three audiences and the ledger, with whether it needs a token. */
  const ROUTES: [method: string, path: string, secured: boolean][] = [
    ['post', '/cases', true],
    ['get', '/cases', true],
    ['get', '/cases/{caseId}', true],
    ['get', '/cases/{caseId}/timeline', true],
    ['get', '/cases/{caseId}/access-log', true],
    ['post', '/cases/{caseId}/payments', true],
    ['get', '/inbox', true],
    ['get', '/cases/{caseId}/view', true],
    ['post', '/cases/{caseId}/decisions', true],
    ['post', '/cases/{caseId}/inspections', true],
    ['get', '/cases/{caseId}/evidence', true],
    ['post', '/cases/{caseId}/escalations', true],
    ['get', '/escalations', true],
    ['get', '/ledger/trust', false],
    ['get', '/ledger/checkpoint', false],
    ['get', '/ledger/tile/{*}', false],
    ['get', '/ledger/entries/{index}', false],
    ['get', '/ledger/proof/inclusion', false],
    ['get', '/ledger/proof/consistency', false],
  ];

  it('is OpenAPI 3.1 at /openapi.json, listing every route with its security', async () => {
    const response = await get('/openapi.json');
    expect(response.statusCode).toBe(200);
    const doc = response.json<{
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown; summary?: string }>>;
      components: { securitySchemes: Record<string, unknown> };
    }>();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    for (const [method, path, secured] of ROUTES) {
      const operation = doc.paths[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(operation!.summary, `${method} ${path}`).toBeTruthy();
      if (secured) expect(operation!.security, path).toEqual([{ bearerAuth: [] }]);
      else expect(operation!.security, path).toBeUndefined();
    }
  });

  it('has interactive docs at /docs', async () => {
    const response = await get('/docs');
    if (response.statusCode >= 300 && response.statusCode < 400) {
      expect(response.headers.location).toMatch(/docs/);
      expect((await get(String(response.headers.location))).statusCode).toBe(200);
    } else {
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/text\/html/);
    }
  });
});

describe("a citizen's cases a day", () => {
  it('are counted in the case store: the limit holds for another API process, and says when the oldest leaves the 24 hours', async () => {
    const sub = `citizen-limit-${randomUUID()}`;
    const citizen = await stack.as({ role: 'citizen', sub });
    // Two cases through the stack's API (limits scripts never reach).
    const started: string[] = [];
    for (let i = 0; i < 2; i++) {
      const response = await post('/cases', citizen, sampleApplication());
      expect(response.statusCode, response.body).toBe(201);
      started.push(response.json<{ workflowId: string }>().workflowId);
    }
    // Another API process on the same store, whose citizens may apply for two a day.
    const other = await buildApp({
      temporal: stack.client,
      pool: stack.pool,
      verifyToken: stack.verifyToken,
      recordAccess: () => Promise.reject(new Error('no reads here')),
      callerLimits: { casesPerDay: 2 },
    });
    try {
      const refused = await other.inject({
        method: 'POST',
        url: '/cases',
        headers: citizen,
        payload: sampleApplication(),
      });
      expect(refused.statusCode, refused.body).toBe(429);
      expect(refused.json()).toEqual({
        error: 'rate_limited',
        field: 'request',
        reason: 'too many cases submitted by this citizen: at most 2 a day; retry in 24 h',
      });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(23 * 3600);
      // Another citizen applies there as before.
      const neighbour = await other.inject({
        method: 'POST',
        url: '/cases',
        headers: await stack.as({ role: 'citizen', sub: `citizen-limit-${randomUUID()}` }),
        payload: sampleApplication(),
      });
      expect(neighbour.statusCode, neighbour.body).toBe(201);
      started.push(neighbour.json<{ workflowId: string }>().workflowId);
    } finally {
      await other.close();
      for (const workflowId of started)
        await stack.client.workflow.getHandle(workflowId).terminate('test done');
    }
  });
});

describe('an Update its case does not take', () => {
  it("answers a supervisor's action 503 by its deadline while no worker serves the case, instead of waiting for good", async () => {
    // A case whose workers are down: its workflow waits on a task queue nobody polls.
    const application = sampleApplication();
    const caseId = randomUUID();
    const run = await stack.client.workflow.start('jointTransferCase', {
      taskQueue: `nobody-polls-${caseId}`,
      workflowId: caseWorkflowId(application.unitId),
      args: [{ caseId, application }],
    });
    await stack.adminPool.query(
      'INSERT INTO cases (case_id, unit_id, workflow_id, run_id) VALUES ($1, $2, $3, $4)',
      [caseId, application.unitId, run.workflowId, run.firstExecutionRunId],
    );
    const other = await buildApp({
      temporal: stack.client,
      pool: stack.pool,
      verifyToken: stack.verifyToken,
      recordAccess: () => Promise.reject(new Error('no reads here')),
      updateDeadlineMs: 2_000,
    });
    try {
      const response = await other.inject({
        method: 'POST',
        url: `/cases/${caseId}/escalations`,
        headers: await stack.as({ role: 'supervisor', sub: 'supervisor-1' }),
        payload: { stepId: 'registerTransfer', action: 'retry', reason: 'the registry is back' },
      });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.json<{ reason: string }>().reason).toMatch(
        /^the case did not take this in time .* and may still take it/,
      );
    } finally {
      await other.close();
      await run.terminate('test done');
    }
  });
});
