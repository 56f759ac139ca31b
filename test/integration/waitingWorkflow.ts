// A workflow that waits until signalled, for the stack trace test (stackTraces.test.ts).
import { condition, defineSignal, setHandler } from '@temporalio/workflow';

export const goOn = defineSignal('goOn');

export async function waitsForASignal(): Promise<void> {
  let signalled = false;
  setHandler(goOn, () => void (signalled = true));
  await condition(() => signalled);
}
