import { describe, expect, it } from 'vitest';
import { Turns, type WaitUntil } from './turns.ts';

/**
 * A stand-in for the workflow's `condition`: waiters are checked when `settle` runs, as the
 * SDK checks conditions between activations, and a waiter can be cancelled like a scope.
 */
function conditions() {
  const waiters: { ready: () => boolean; resolve: () => void; reject: (e: Error) => void }[] = [];
  const waitUntil: WaitUntil = (ready) =>
    new Promise<void>((resolve, reject) => waiters.push({ ready, resolve, reject }));
  const settle = async () => {
    for (;;) {
      // Let every resumed caller run first, as an activation does before the SDK checks.
      for (let i = 0; i < 10; i++) await Promise.resolve();
      const ready = waiters.filter((w) => w.ready());
      if (ready.length === 0) return;
      for (const w of ready) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const cancel = (index: number) => waiters.splice(index, 1)[0]!.reject(new Error('cancelled'));
  return { waitUntil, settle, cancel, waiting: () => waiters.length };
}

/** A call that finishes when told to, recording when it started. */
function call(name: string, started: string[]) {
  let finish!: () => void;
  const done = new Promise<string>((resolve) => (finish = () => resolve(name)));
  return {
    run: () => {
      started.push(name);
      return done;
    },
    finish: () => finish(),
  };
}

describe('turns: one call at a time, in the order asked', () => {
  it('starts each call only after the one asked before it has settled', async () => {
    const c = conditions();
    const turns = new Turns(c.waitUntil);
    const started: string[] = [];
    const [a, b, d] = [call('a', started), call('b', started), call('d', started)];
    const results = [turns.run(a.run), turns.run(b.run), turns.run(d.run)];
    await c.settle();
    expect(started).toEqual(['a']);
    expect(turns.busy).toBe(3);

    a.finish();
    await c.settle();
    expect(started).toEqual(['a', 'b']);
    b.finish();
    await c.settle();
    expect(started).toEqual(['a', 'b', 'd']);
    d.finish();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'd']);
    expect(turns.busy).toBe(0);
  });

  it('passes the turn on when a call fails', async () => {
    const c = conditions();
    const turns = new Turns(c.waitUntil);
    const failing = turns.run(() => Promise.reject(new Error('append refused')));
    const next = turns.run(() => Promise.resolve('next'));
    await c.settle();
    await expect(failing).rejects.toThrow('append refused');
    await c.settle();
    expect(await next).toBe('next');
    expect(turns.busy).toBe(0);
  });

  it('skips the turn of a call cancelled while it waited, so later calls still run', async () => {
    const c = conditions();
    const turns = new Turns(c.waitUntil);
    const started: string[] = [];
    const [a, b, d] = [call('a', started), call('b', started), call('d', started)];
    const first = turns.run(a.run);
    const second = turns.run(b.run);
    const third = turns.run(d.run);
    await c.settle();
    expect(c.waiting()).toBe(2);
    c.cancel(0); // b's scope is cancelled before its turn
    await expect(second).rejects.toThrow('cancelled');
    expect(turns.busy).toBe(2);

    a.finish();
    await c.settle();
    expect(started).toEqual(['a', 'd']);
    d.finish();
    expect([await first, await third]).toEqual(['a', 'd']);
    expect(turns.busy).toBe(0);
  });

  it('passes on a turn that came just as its call was cancelled', async () => {
    const c = conditions();
    const turns = new Turns(c.waitUntil);
    const started: string[] = [];
    const [a, b] = [call('a', started), call('b', started)];
    const first = turns.run(a.run);
    await c.settle();
    const second = turns.run(b.run);
    a.finish();
    await first;
    // a has passed the turn to the waiting call, which is cancelled before it is checked.
    c.cancel(0);
    await expect(second).rejects.toThrow('cancelled');
    const third = turns.run(() => Promise.resolve('third'));
    await c.settle();
    expect(await third).toBe('third');
    expect(started).toEqual(['a']);
  });
});
