// One call at a time, in the order the calls were asked for: the case's local activities
// go through this (see jointTransferCase). Pure and deterministic, so tested without a
// Temporal server.

/**
 * The queue of cases started since the 'jointTransferCase-v4' patch. A free queue starts a
 * call at once; otherwise the call waits on a promise that the call before it resolves as it
 * settles. Neither costs a workflow `condition`: each condition that comes true costs the
 * SDK another round into the sandbox, and every promise a workflow makes costs a captured
 * stack (sdk-typescript#1587), which made the queue below a visible part of a case's CPU.
 * A caller cancelled while it waits keeps its place: at its turn its local activity is
 * scheduled in a cancelled scope, which the SDK rejects at once, and the turn passes on.
 */
export class Turns {
  private readonly waiting: (() => void)[] = [];
  /** Calls waiting for their turn or running. */
  busy = 0;

  /** Runs `call` once every call asked for before it has settled. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.busy++ > 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await call();
    } finally {
      this.busy--;
      this.waiting.shift()?.();
    }
  }
}

/** Waits until `ready()` holds; rejects if the caller's scope is cancelled meanwhile. */
export type WaitUntil = (ready: () => boolean) => Promise<unknown>;

/**
 * The queue of cases started before the 'jointTransferCase-v4' patch, kept so that they
 * replay: each call waits for its ticket with the workflow's `condition`, so a call asked
 * for after another settles starts only once the SDK checks conditions again.
 */
export class TurnsByCondition {
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
