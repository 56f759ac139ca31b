// One call at a time, in the order the calls were asked for: the case's local activities
// go through this (see jointTransferCase). Pure and deterministic; the wait is injected
// (the workflow's `condition`), so it is tested without a Temporal server.
//
// The wait must be a `condition`, not a promise the call before resolves: the SDK checks
// conditions only once an activation's jobs and their microtasks have settled, so a turn
// starts last in its activation whichever jobs that activation holds. Handed on through a
// promise, the next local activity was scheduled amid the other jobs' continuations, and a
// case failed replay ("Activity id of scheduled event '9' does not match activity id of
// activity command '8'", bench/cases.ts, 2026-11-25), apparently because replay groups a
// local activity's resolution with other jobs differently than the live run did.

/** Waits until `ready()` holds; rejects if the caller's scope is cancelled meanwhile. */
export type WaitUntil = (ready: () => boolean) => Promise<unknown>;

export class Turns {
  private nextTicket = 0;
  private serving = 0;
  /** Tickets whose holder gave up waiting (a cancelled scope): skipped when their turn comes. */
  private readonly abandoned = new Set<number>();
  /** Calls waiting for their turn or running. */
  busy = 0;

  constructor(private readonly waitUntil: WaitUntil) {}

  /** Runs `call` once every call asked for before it has settled. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    const ticket = this.nextTicket++;
    this.busy++;
    let started = false;
    try {
      await this.waitUntil(() => this.serving === ticket);
      started = true;
      return await call();
    } finally {
      this.busy--;
      if (started || this.serving === ticket) this.passOn();
      else this.abandoned.add(ticket);
    }
  }

  private passOn(): void {
    this.serving++;
    while (this.abandoned.delete(this.serving)) this.serving++;
  }
}
