// Plays the people on many cases at once, through the API only, the way the pages do: the
// citizen applies (POST /cases) and pays (POST /cases/:id/payments), the registry officer
// approves (POST /cases/:id/decisions). Whether a step waits is read from the ledger (the
// assessed tax, the title check, the payment and the review are signed entries), so one
// query a few times a second serves every case, and it keeps working while the API or
// Temporal is down. Every call is retried on a connection error, a timeout or a 5xx: faults
// are injected while cases run.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster } from './cluster.ts';

/** Ledger entries of a clean sale with `utilities`, by step id (no arrears, approved, completed). */
export function expectedSteps(utilities: readonly string[]): string[] {
  return [
    'verifyContract',
    'checkTitle',
    ...utilities.map((u) => `precheck.${u}`),
    'assessTax',
    'confirmPayment',
    'review',
    'registerTransfer',
    ...utilities.map((u) => `transferAccount.${u}`),
    'close',
  ];
}

export interface CaseRun {
  i: number;
  unitId: string;
  citizen: string;
  utilities: string[];
  application: Record<string, unknown>;
  caseId?: string;
  /** Date.now() when the first submission attempt began. */
  submittedAt: number;
  /** Date.now() when a submission answered 201 (or a retry's 409 led to the case). */
  acceptedAt?: number;
  /** Every answer to a submission attempt: a status, or the error's name. */
  answers: (number | string)[];
  /** Step id → ledger index, as sequenced. */
  steps: Map<string, number>;
  /** When the close entry was sequenced (the database's clock, ms since the epoch). */
  closedAt?: number;
  closeOutcome?: string;
}

export interface DriverStats {
  submissions: Record<string, number>;
  payments: Record<string, number>;
  approvals: Record<string, number>;
  ledgerPollErrors: number;
}

interface Action {
  inFlight: boolean;
  done: boolean;
  notBefore: number;
  attempts: number;
  last?: number | string;
}

export interface DriverOptions {
  /** Unit ids are `<tag>-<i>`; different runs on one cluster need different tags. */
  tag: string;
  utilities?: string[];
  /** The citizen subject of case i (a citizen's list shows at most 100 cases). */
  citizenOf?: (i: number) => string;
  /** Calls to the API at once (payments and approvals). */
  maxActions?: number;
  /** How long a call may take before it is abandoned and tried again (default 60 s). */
  requestTimeoutMs?: number;
  /**
   * The officer holds every approval until `releaseApprovals()`: no case can close before
   * then, so all of them stay in flight (the fault tests inject faults meanwhile).
   */
  holdApprovals?: boolean;
  log?: (line: string) => void;
}

interface LedgerRow {
  idx: string;
  statement_id: string;
  case_id: string;
  sequenced_at: Date;
  outcome: string | null;
}

/** A clean sale of a unit no other case uses. */
export function cleanSale(unitId: string, i: number, utilities: readonly string[]) {
  return {
    unitId,
    address: `${10 + (i % 90)} Harbour Lane, Apt ${i}B`,
    priceCents: 42_500_000 + (i % 100) * 1000,
    areaSqm: 84.5,
    contractFilingNumber: `HF-${unitId}`,
    buyer: { name: 'Mina Park', idNumber: 'B1234567' },
    seller: { name: 'Jon Lee', idNumber: 'S7654321' },
    utilities: [...utilities],
    consent: true,
  };
}

export function runTag(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
}

export class CaseDriver {
  readonly runs: CaseRun[] = [];
  readonly stats: DriverStats = {
    submissions: {},
    payments: {},
    approvals: {},
    ledgerPollErrors: 0,
  };
  private readonly byCaseId = new Map<string, CaseRun>();
  /** Entries of cases not (yet) known to this driver, by case id. */
  private readonly unclaimed = new Map<string, LedgerRow[]>();
  private readonly tokens = new Map<string, string>();
  private officer: string | undefined;
  private nextIndex = 0;
  private loop: Promise<void> | undefined;
  private running = false;
  private actionsInFlight = 0;
  private serverErrorsLogged = 0;
  private approvalsHeld: boolean;
  private readonly actions = new Map<string, Action>();
  private readonly utilities: string[];
  private readonly maxActions: number;
  private readonly requestTimeoutMs: number;
  private readonly stopping = new AbortController();
  private readonly citizenOf: (i: number) => string;
  private readonly log: (line: string) => void;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: DriverOptions,
  ) {
    this.utilities = options.utilities ?? [];
    this.maxActions = options.maxActions ?? 24;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.citizenOf = options.citizenOf ?? (() => `citizen-${options.tag.toLowerCase()}`);
    this.log = options.log ?? (() => undefined);
    this.approvalsHeld = options.holdApprovals ?? false;
  }

  /** The officer starts approving (see `holdApprovals`). */
  releaseApprovals(): void {
    this.approvalsHeld = false;
  }

  /** Entries of every case seen so far (progress while a fault is injected). */
  get entriesSeen(): number {
    return this.runs.reduce((n, r) => n + r.steps.size, 0);
  }

  get closed(): number {
    return this.runs.filter((r) => r.closedAt !== undefined).length;
  }

  /** Starts reading the ledger and acting on open steps, until `stop()`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      let from = 0;
      while (this.running) {
        try {
          from = await this.pollLedger(from);
        } catch {
          // PostgreSQL is restarting: the next poll reads from the same index.
          this.stats.ledgerPollErrors++;
        }
        this.act();
        await sleep(250);
      }
    })();
  }

  /** Stops acting; calls still in flight are abandoned. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    await this.loop;
    while (this.actionsInFlight > 0) await sleep(50);
  }

  /** A request's signal: aborted after the request timeout, or when the driver stops. */
  private signal(): AbortSignal {
    return AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.requestTimeoutMs)]);
  }

  /**
   * Submits `n` clean sales, `concurrency` at a time, each retried until it is accepted:
   * 201 (a retry whose first answer was lost gets its case back once the case's intake
   * has run), or a 409 for one sent before that (the case is then found in the citizen's
   * list). Resolves with the runs once every one has its case id.
   */
  async submit(n: number, concurrency: number, deadlineMs = 300_000): Promise<CaseRun[]> {
    const first = this.nextIndex;
    this.nextIndex += n;
    const runs: CaseRun[] = [];
    for (let i = first; i < first + n; i++) {
      const unitId = `${this.options.tag}-${i}`;
      const run: CaseRun = {
        i,
        unitId,
        citizen: this.citizenOf(i),
        utilities: this.utilities,
        application: cleanSale(unitId, i, this.utilities),
        submittedAt: 0,
        answers: [],
        steps: new Map(),
      };
      runs.push(run);
      this.runs.push(run);
    }
    const deadline = Date.now() + deadlineMs;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        while (next < runs.length) await this.submitOne(runs[next++]!, deadline);
      }),
    );
    return runs;
  }

  /** Resolves once every case has its close entry; throws naming the stuck ones after `timeoutMs`. */
  async waitForClosed(timeoutMs: number, runs: readonly CaseRun[] = this.runs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (runs.some((r) => r.closedAt === undefined)) {
      if (Date.now() > deadline) {
        const stuck = runs.filter((r) => r.closedAt === undefined);
        const sample = stuck.slice(0, 5).map((r) => {
          const tried = ['confirmPayment', 'review'].flatMap((step) => {
            const a = this.actions.get(`${r.caseId}/${step}`);
            return a
              ? [`${step} tried ${a.attempts}x, last ${a.last}${a.done ? ', done' : ''}`]
              : [];
          });
          return `${r.unitId} (${r.caseId ?? 'no case id'}): [${[...r.steps.keys()].join(', ')}] ${tried.join('; ')}`;
        });
        throw new Error(
          `${stuck.length} of ${runs.length} cases did not close within ${timeoutMs} ms; e.g. ${sample.join('; ')}`,
        );
      }
      await sleep(250);
    }
  }

  /** Resolves once the entries of `runs` number at least `entries` (to inject a fault mid-run). */
  async waitForEntries(
    entries: number,
    timeoutMs: number,
    runs: readonly CaseRun[] = this.runs,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const seen = () => runs.reduce((n, r) => n + r.steps.size, 0);
    while (seen() < entries) {
      if (Date.now() > deadline)
        throw new Error(`only ${seen()} of ${entries} entries within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Resolves once at least `n` of the submissions so far were accepted. */
  async waitForAccepted(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.runs.filter((r) => r.caseId).length < n) {
      if (Date.now() > deadline) throw new Error(`fewer than ${n} submissions accepted in time`);
      await sleep(50);
    }
  }

  private async token(sub: string): Promise<string> {
    let token = this.tokens.get(sub);
    if (!token) {
      token = await this.cluster.token({ role: 'citizen', sub });
      this.tokens.set(sub, token);
    }
    return token;
  }

  private count(table: Record<string, number>, what: number | string): void {
    table[String(what)] = (table[String(what)] ?? 0) + 1;
  }

  private async submitOne(run: CaseRun, deadline: number): Promise<void> {
    run.submittedAt = Date.now();
    const token = await this.token(run.citizen);
    for (;;) {
      if (this.stopping.signal.aborted)
        throw new Error(`the driver stopped before ${run.unitId} was accepted`);
      if (Date.now() > deadline)
        throw new Error(
          `${run.unitId} was not accepted in time: answers ${run.answers.join(', ')}`,
        );
      let status: number | string;
      let body: unknown;
      try {
        const response = await fetch(`${this.cluster.apiUrl}/cases`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(run.application),
          signal: this.signal(),
        });
        status = response.status;
        body = await response.json().catch(() => undefined);
      } catch (error) {
        status = (error as Error).name;
      }
      run.answers.push(status);
      this.count(this.stats.submissions, status);
      if (status === 201) {
        this.accept(run, (body as { caseId: string }).caseId);
        return;
      }
      if (status === 409) {
        // A retry of a submission whose answer was lost: the case is there, the citizen's.
        const caseId = await this.findOwnCase(run, token);
        if (caseId) {
          this.accept(run, caseId);
          return;
        }
      } else if (typeof status === 'number' && status < 500 && status !== 429) {
        throw new Error(`${run.unitId} was refused: ${status} ${JSON.stringify(body)}`);
      }
      await sleep(500);
    }
  }

  private accept(run: CaseRun, caseId: string): void {
    if (run.caseId && run.caseId !== caseId)
      throw new Error(`${run.unitId} got a second case ${caseId} beside ${run.caseId}`);
    run.caseId = caseId;
    run.acceptedAt = Date.now();
    this.byCaseId.set(caseId, run);
    for (const row of this.unclaimed.get(caseId) ?? []) this.record(run, row);
    this.unclaimed.delete(caseId);
  }

  private async findOwnCase(run: CaseRun, token: string): Promise<string | undefined> {
    try {
      const response = await fetch(`${this.cluster.apiUrl}/cases?pageSize=100`, {
        headers: { authorization: `Bearer ${token}` },
        signal: this.signal(),
      });
      if (response.status !== 200) return undefined;
      const { cases } = (await response.json()) as { cases: { caseId: string; unitId: string }[] };
      return cases.find((c) => c.unitId === run.unitId)?.caseId;
    } catch {
      return undefined;
    }
  }

  private async pollLedger(from: number): Promise<number> {
    const { rows } = await this.cluster.admin.query<LedgerRow>(
      `SELECT idx, statement_id, case_id, sequenced_at,
              CASE WHEN statement_id LIKE '%/close'
                   THEN convert_from(entry, 'UTF8')::jsonb #>> '{statement,outcome}' END AS outcome
         FROM ledger_entries WHERE idx >= $1 ORDER BY idx LIMIT 5000`,
      [from],
    );
    let next = from;
    for (const row of rows) {
      next = Number(row.idx) + 1;
      const run = this.byCaseId.get(row.case_id);
      if (run) this.record(run, row);
      // A case whose submission answer has not arrived yet (or not one of ours): kept aside.
      else this.unclaimed.set(row.case_id, [...(this.unclaimed.get(row.case_id) ?? []), row]);
    }
    return next;
  }

  private record(run: CaseRun, row: LedgerRow): void {
    const stepId = row.statement_id.slice(row.case_id.length + 1);
    run.steps.set(stepId, Number(row.idx));
    if (stepId === 'close') {
      run.closedAt = row.sequenced_at.getTime();
      run.closeOutcome = row.outcome ?? undefined;
    }
  }

  /** Sends whatever payment or approval is due, at most `maxActions` calls at once. */
  private act(): void {
    const now = Date.now();
    for (const run of this.runs) {
      if (this.actionsInFlight >= this.maxActions) return;
      if (!run.caseId || run.closedAt !== undefined) continue;
      const has = (step: string) => run.steps.has(step);
      // Until the API says the step is decided: an entry on the ledger is not enough, since a
      // decision appended in a workflow task the server lost in a restart is not the case's
      // until it is sent again (the case then follows the entry: decide-follows-logged).
      if (has('assessTax')) this.maybe(run, 'confirmPayment', now, () => this.pay(run));
      if (!this.approvalsHeld && has('checkTitle') && has('confirmPayment') && !has('review'))
        this.maybe(run, 'review', now, () => this.approve(run));
    }
  }

  private maybe(run: CaseRun, stepId: string, now: number, call: () => Promise<number | string>) {
    const key = `${run.caseId}/${stepId}`;
    let action = this.actions.get(key);
    if (!action) {
      action = { inFlight: false, done: false, notBefore: 0, attempts: 0 };
      this.actions.set(key, action);
    }
    if (action.done || action.inFlight || now < action.notBefore) return;
    action.inFlight = true;
    this.actionsInFlight++;
    const table = stepId === 'review' ? this.stats.approvals : this.stats.payments;
    void call().then((status) => {
      this.count(table, status);
      action.inFlight = false;
      action.last = status;
      action.attempts++;
      this.actionsInFlight--;
      // After a 200 the entry is on its way; after 'closed' the step was decided (an earlier
      // answer was lost) or the case closed. Anything else is tried again.
      if (status === 200 || status === 'closed') action.done = true;
      else action.notBefore = Date.now() + (status === 'not open' ? 300 : 1500);
    });
  }

  private pay(run: CaseRun): Promise<number | string> {
    return this.token(run.citizen).then((token) =>
      this.post(`/cases/${run.caseId}/payments`, token, { stepId: 'confirmPayment' }),
    );
  }

  private async approve(run: CaseRun): Promise<number | string> {
    this.officer ??= await this.cluster.token({
      role: 'officer',
      sub: 'officer-registry-faults',
      agency: 'registry',
    });
    return this.post(`/cases/${run.caseId}/decisions`, this.officer, {
      stepId: 'review',
      outcome: 'approved',
      reason: 'title clear, duties paid',
    });
  }

  /** 200; 'closed' when the step is already decided (an earlier answer was lost); else why not. */
  private async post(path: string, token: string, body: unknown): Promise<number | string> {
    try {
      const response = await fetch(`${this.cluster.apiUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: this.signal(),
      });
      const text = await response.text();
      if (response.status === 409 && /takes no more decisions|no longer running/.test(text))
        return 'closed';
      if (response.status === 422) {
        if (/is done|already/.test(text)) return 'closed';
        if (/not open/.test(text)) return 'not open';
        this.log(`${path}: 422 ${text}`);
      } else if (
        response.status >= 400 &&
        (response.status < 500 || this.serverErrorsLogged++ < 5)
      ) {
        this.log(`${path}: ${response.status} ${text}`);
      }
      return response.status;
    } catch (error) {
      return (error as Error).name;
    }
  }
}
